// <data-dir>/eventful.pid: the pid of the running server, written by `eventful start`.
#pragma once

#include <sys/types.h>

#include <string>

namespace eventful::cli {

std::string PidFilePath(const std::string& data_dir);
std::string LogFilePath(const std::string& data_dir);

// The pid in the file, or 0 when there is no file or it does not hold a pid.
pid_t ReadPidFile(const std::string& data_dir);
// Atomically (tmp + rename), mode 0600. False on failure (errno set).
bool WritePidFile(const std::string& data_dir, pid_t pid);
// Removes the file if it still names `pid` (so a stale remover never deletes a newer server's).
void RemovePidFile(const std::string& data_dir, pid_t pid);

// True while `pid` is a live (not zombie) process that looks like an EventfulDB server: its
// command name starts with "eventful", when /proc can tell. A pid reused by an unrelated
// process after a crash therefore reads as "not running".
bool IsServerRunning(pid_t pid);
// The pid of the running server of data_dir, or 0.
pid_t RunningServer(const std::string& data_dir);

}  // namespace eventful::cli
