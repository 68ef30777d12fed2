#include "clients/cli/session_file.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace eventful::cli {
namespace {

constexpr std::string_view kSessionDir = "eventful";
constexpr std::string_view kSessionFile = "session";

void PrintErrno(const std::string& what, const std::string& path) {
  std::fprintf(stderr, "error: %s %s: %s\n", what.c_str(), path.c_str(), std::strerror(errno));
}

std::optional<std::string> ConfigHome() {
  // XDG Base Directory: a relative or empty XDG_CONFIG_HOME is ignored.
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && xdg[0] == '/') return std::string(xdg);
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') {
    const passwd* pw = getpwuid(getuid());
    home = pw != nullptr ? pw->pw_dir : nullptr;
  }
  if (home == nullptr || home[0] == '\0') return std::nullopt;
  return std::string(home) + "/.config";
}

// mkdir -p with mode 0700 for every directory it creates (existing ones are left as they are).
bool MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      PrintErrno("cannot create directory", prefix);
      return false;
    }
  }
  return true;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

}  // namespace

std::optional<std::string> SessionPath() {
  std::optional<std::string> home = ConfigHome();
  if (!home) {
    std::fprintf(stderr, "error: cannot find the session file: set XDG_CONFIG_HOME or HOME\n");
    return std::nullopt;
  }
  return *home + "/" + std::string(kSessionDir) + "/" + std::string(kSessionFile);
}

std::optional<std::string> ReadSession() {
  std::optional<std::string> home = ConfigHome();
  if (!home) return std::nullopt;  // no home: no session, not an error
  const std::string path = *home + "/" + std::string(kSessionDir) + "/" + std::string(kSessionFile);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT && errno != ENOTDIR) PrintErrno("cannot read the session file", path);
    return std::nullopt;
  }
  struct stat st{};
  if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    std::fprintf(stderr, "warning: %s is readable by other users (chmod 600 it, or run `eventful token:auth --logout`)\n",
                 path.c_str());
  }
  std::string secret;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      PrintErrno("cannot read the session file", path);
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    secret.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.empty()) return std::nullopt;
  return secret;
}

bool WriteSession(const std::string& secret, std::string* path_out) {
  std::optional<std::string> path = SessionPath();
  if (!path) return false;
  *path_out = *path;
  const std::string dir = path->substr(0, path->rfind('/'));
  if (!MakeDirs(dir)) return false;
  std::string temp = dir + "/.session.XXXXXX";
  int fd = mkstemp(temp.data());  // created 0600
  if (fd < 0) {
    PrintErrno("cannot create a file in", dir);
    return false;
  }
  bool ok = fchmod(fd, 0600) == 0 && WriteAll(fd, secret + "\n") && fsync(fd) == 0;
  if (close(fd) != 0) ok = false;
  if (!ok) {
    PrintErrno("cannot write", temp);
    unlink(temp.c_str());
    return false;
  }
  if (rename(temp.c_str(), path->c_str()) != 0) {
    PrintErrno("cannot rename the session file to", *path);
    unlink(temp.c_str());
    return false;
  }
  SyncDir(dir);
  return true;
}

bool RemoveSession(bool* removed, std::string* path_out) {
  *removed = false;
  std::optional<std::string> path = SessionPath();
  if (!path) return false;
  *path_out = *path;
  if (unlink(path->c_str()) == 0) {
    *removed = true;
    return true;
  }
  if (errno == ENOENT || errno == ENOTDIR) return true;
  PrintErrno("cannot remove the session file", *path);
  return false;
}

}  // namespace eventful::cli
