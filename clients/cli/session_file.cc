#include "clients/cli/session_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string_view>

#include "clients/cli/config_home.h"

namespace eventful::cli {
namespace {

constexpr std::string_view kSessionFile = "session";

}  // namespace

std::optional<std::string> SessionPath() {
  std::optional<std::string> dir = EventfulConfigDir();
  if (!dir) {
    std::fprintf(stderr, "error: cannot find the session file: set XDG_CONFIG_HOME or HOME\n");
    return std::nullopt;
  }
  return *dir + "/" + std::string(kSessionFile);
}

std::optional<std::string> ReadSession() {
  std::optional<std::string> dir = EventfulConfigDir();
  if (!dir) return std::nullopt;  // no home: no session, not an error
  const std::string path = *dir + "/" + std::string(kSessionFile);
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
  if (!ReadAll(fd, &secret)) {
    PrintErrno("cannot read the session file", path);
    close(fd);
    return std::nullopt;
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
  if (!MakePrivateDirs(dir)) return false;
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
