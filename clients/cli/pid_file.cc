#include "clients/cli/pid_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace eventful::cli {

std::string PidFilePath(const std::string& data_dir) { return data_dir + "/eventful.pid"; }
std::string LogFilePath(const std::string& data_dir) { return data_dir + "/eventful.log"; }

pid_t ReadPidFile(const std::string& data_dir) {
  std::ifstream in(PidFilePath(data_dir));
  if (!in) return 0;
  long long pid = 0;
  if (!(in >> pid) || pid <= 1 || pid > 0x7fffffff) return 0;
  return static_cast<pid_t>(pid);
}

bool WritePidFile(const std::string& data_dir, pid_t pid) {
  const std::string path = PidFilePath(data_dir);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  std::string text = std::to_string(pid) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = (::close(fd) == 0) && ok;
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
  }
  return ok;
}

void RemovePidFile(const std::string& data_dir, pid_t pid) {
  if (ReadPidFile(data_dir) == pid) ::unlink(PidFilePath(data_dir).c_str());
}

bool IsServerRunning(pid_t pid) {
  if (pid <= 1) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat(proc + "/stat");
  if (!stat) return ::access("/proc/self", F_OK) != 0;  // no /proc at all: trust kill()
  std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // "pid (comm) S ...": the state follows the last ')'.
  auto close = line.rfind(')');
  if (close != std::string::npos && close + 2 < line.size()) {
    char state = line[close + 2];
    if (state == 'Z' || state == 'X') return false;
  }
  std::ifstream comm_file(proc + "/comm");
  std::string comm;
  std::getline(comm_file, comm);
  return comm.rfind("eventful", 0) == 0;
}

pid_t RunningServer(const std::string& data_dir) {
  pid_t pid = ReadPidFile(data_dir);
  return IsServerRunning(pid) ? pid : 0;
}

}  // namespace eventful::cli
