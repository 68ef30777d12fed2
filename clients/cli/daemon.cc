// `eventful start | stop | restart | destroy`: the server's life cycle around <data-dir>/eventful.pid.
//
// start (daemon): the parent checks config and DEK itself (so those errors reach the terminal),
// then forks. The child starts a new session, sends stderr to <data-dir>/eventful.log and its
// stdout through a pipe that a copier thread appends to the same log; when the copier sees
// RunServer's "eventful: listening on HOST:PORT" line it passes that line to the parent over a
// readiness pipe. The parent prints "eventful started (pid N) on HOST:PORT"; if the pipe closes
// without that line, the child has exited and the parent shows the log lines it wrote.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "clients/cli/commands.h"
#include "clients/cli/pid_file.h"
#include "server/server.h"

namespace eventful::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kListening = "listening on ";
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr auto kStopPoll = std::chrono::milliseconds(50);
constexpr int kReadyTimeoutMs = 120 * 1000;

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

std::string ErrnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

bool WriteAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// In the child: copies everything the server writes to stdout (read end `from`) into the log,
// and hands the first "listening on" line to the parent through `ready` (then closes it).
void CopyStdout(int from, int log_fd, int ready) {
  std::string line;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    WriteAll(log_fd, buf, static_cast<std::size_t>(n));
    if (ready < 0) continue;
    for (ssize_t i = 0; i < n && ready >= 0; ++i) {
      if (buf[i] != '\n') {
        if (line.size() < 4096) line += buf[i];
        continue;
      }
      if (line.find(kListening) != std::string::npos) {
        line += '\n';
        WriteAll(ready, line.data(), line.size());
        ::close(ready);
        ready = -1;
      }
      line.clear();
    }
  }
  if (ready >= 0) ::close(ready);
  ::close(from);
}

[[noreturn]] void RunChild(const server::ServerConfig& config, int log_fd, int ready) {
  ::setsid();
  ::umask(077);
  ::signal(SIGPIPE, SIG_IGN);
  if (::chdir("/") != 0) {
    // data_dir is absolute; staying in the old directory is harmless.
  }
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int out[2];
  if (null_fd < 0 || ::pipe2(out, O_CLOEXEC) != 0) _exit(1);
  ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  ::dup2(out[1], STDOUT_FILENO);
  ::close(out[1]);
  // The copier blocks every signal, so SIGTERM and friends reach the server's own handling
  // (which may wait for them with sigwait in its main thread) and never this thread.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  std::thread copier(CopyStdout, out[0], log_fd, ready);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);

  const pid_t self = ::getpid();
  int rc = server::RunServer(config);

  std::fflush(stdout);
  std::cout.flush();
  ::dup2(null_fd, STDOUT_FILENO);  // last write end of the pipe: the copier sees EOF and ends
  copier.join();
  RemovePidFile(config.data_dir, self);
  std::fflush(stderr);
  _exit(rc);
}

// The log text written since `offset`, at most the last `max_lines` lines.
std::string LogTail(const std::string& path, std::streamoff offset, std::size_t max_lines) {
  std::ifstream in(path);
  if (!in) return {};
  in.seekg(offset);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

// Reads the readiness line, or "" when the pipe closed without one (or after the timeout).
std::string WaitForReady(int fd, bool* timed_out) {
  std::string got;
  *timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyTimeoutMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *timed_out = true;
      return "";
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got.find('\n') != std::string::npos ? got : "";
    got.append(buf, static_cast<std::size_t>(n));
    if (got.find('\n') != std::string::npos) return got;
  }
}

int StartDaemon(const server::ServerConfig& config) {
  const std::string log_path = LogFilePath(config.data_dir);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return Fail(ErrnoText("cannot open " + log_path));
  struct stat st {};
  std::streamoff log_offset = ::fstat(log_fd, &st) == 0 ? st.st_size : 0;

  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Fail(ErrnoText("pipe"));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrnoText("fork"));
  if (pid == 0) {
    ::close(ready[0]);
    RunChild(config, log_fd, ready[1]);
  }
  ::close(ready[1]);
  ::close(log_fd);
  if (!WritePidFile(config.data_dir, pid)) {
    int saved = errno;
    ::kill(pid, SIGTERM);
    errno = saved;
    return Fail(ErrnoText("cannot write " + PidFilePath(config.data_dir)));
  }

  bool timed_out = false;
  std::string line = WaitForReady(ready[0], &timed_out);
  ::close(ready[0]);
  if (!line.empty()) {
    std::string where = line.substr(line.find(kListening) + kListening.size());
    while (!where.empty() && (where.back() == '\n' || where.back() == '\r')) where.pop_back();
    std::printf("eventful started (pid %d) on %s\n", static_cast<int>(pid), where.c_str());
    return 0;
  }
  if (timed_out) {
    std::fprintf(stderr,
                 "error: eventful (pid %d) has not reported listening after %d s; it is still "
                 "starting or stuck, see %s\n",
                 static_cast<int>(pid), kReadyTimeoutMs / 1000, log_path.c_str());
    return 1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  RemovePidFile(config.data_dir, pid);
  std::string how = WIFEXITED(status)     ? "exit code " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? std::string("signal ") + strsignal(WTERMSIG(status))
                                          : "unknown status";
  std::fprintf(stderr, "error: eventful failed to start (%s); from %s:\n%s", how.c_str(),
               log_path.c_str(), LogTail(log_path, log_offset, 20).c_str());
  return 1;
}

// Sends `sig` and waits (bounded) for the process to go. True when it is gone.
bool SignalAndWait(pid_t pid, int sig) {
  if (::kill(pid, sig) != 0 && errno == ESRCH) return true;
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!IsServerRunning(pid)) return true;
    std::this_thread::sleep_for(kStopPoll);
  }
  return !IsServerRunning(pid);
}

int StopServer(const std::string& data_dir, bool force, bool quiet_if_stopped) {
  pid_t pid = ReadPidFile(data_dir);
  if (pid == 0) {
    if (!quiet_if_stopped) std::printf("eventful is not running (no pid file in %s)\n", data_dir.c_str());
    return 0;
  }
  if (!IsServerRunning(pid)) {
    RemovePidFile(data_dir, pid);
    if (!quiet_if_stopped) std::printf("eventful is not running (removed a stale pid file)\n");
    return 0;
  }
  if (!SignalAndWait(pid, force ? SIGKILL : SIGTERM)) {
    return Fail("eventful (pid " + std::to_string(pid) + ") did not stop within " +
                std::to_string(kStopTimeout.count()) + " s; use `eventful stop --force`");
  }
  RemovePidFile(data_dir, pid);
  std::printf("eventful stopped (pid %d)\n", static_cast<int>(pid));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int RunStart(const StartOptions& o) {
  server::ServerConfig config;
  if (Status s = server::PrepareLaunch(o.launch, &config); !s.ok()) return Fail(s.message());
  if (pid_t running = RunningServer(config.data_dir); running != 0) {
    return Fail("eventful is already running (pid " + std::to_string(running) + ") for " + config.data_dir);
  }
  if (!o.foreground) return StartDaemon(config);

  const pid_t self = ::getpid();
  if (!WritePidFile(config.data_dir, self)) {
    return Fail(ErrnoText("cannot write " + PidFilePath(config.data_dir)));
  }
  int rc = server::RunServer(config);
  RemovePidFile(config.data_dir, self);
  return rc;
}

int RunStop(const StopOptions& o) { return StopServer(o.data_dir, o.force, false); }

int RunRestart(const StopOptions& stop, const StartOptions& start) {
  if (int rc = StopServer(stop.data_dir, stop.force, true); rc != 0) return rc;
  return RunStart(start);
}

int RunDestroy(const DestroyOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.data_dir, ec)) return Fail("no data directory at " + o.data_dir);
  if (pid_t pid = RunningServer(o.data_dir); pid != 0) {
    return Fail("eventful is running (pid " + std::to_string(pid) + "); stop it first with `eventful stop`");
  }
  const bool configured = fs::exists(fs::path(o.data_dir) / "config.toml", ec);
  if (!configured && !fs::is_empty(o.data_dir, ec)) {
    return Fail(o.data_dir + " does not look like an EventfulDB data directory (no config.toml); not deleting it");
  }
  std::string shown = fs::absolute(o.data_dir, ec).lexically_normal().string();
  if (!o.yes) {
    std::printf("Type 'yes' to delete %s: ", shown.c_str());
    std::fflush(stdout);
    std::string answer;
    if (!std::getline(std::cin, answer)) std::printf("\n");
    if (answer != "yes") return Fail("not confirmed; nothing deleted");
  }
  fs::remove_all(o.data_dir, ec);
  if (ec) return Fail("cannot delete " + shown + ": " + ec.message());
  std::printf("deleted %s\n", shown.c_str());
  return 0;
}

}  // namespace eventful::cli
