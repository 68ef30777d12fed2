// The CLI's private directory, $XDG_CONFIG_HOME/eventful (default ~/.config/eventful), and the
// small file helpers the files kept there share: the session file (session_file.h) and the
// staging file of aggregate:apply (staging.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eventful::cli {

// $XDG_CONFIG_HOME/eventful, else $HOME/.config/eventful, else the password entry's home. A
// relative or empty XDG_CONFIG_HOME is ignored (XDG Base Directory). nullopt when no home is known.
std::optional<std::string> EventfulConfigDir();

// mkdir -p with mode 0700 for every directory it creates (existing ones are left as they are).
// Prints an error and returns false on failure.
bool MakePrivateDirs(const std::string& dir);

// write(2) until all of `data` is written (retrying EINTR). False on an error (errno set).
bool WriteAll(int fd, std::string_view data);

// Reads the rest of fd into *out. False on an error (errno set).
bool ReadAll(int fd, std::string* out);

// fsync of a directory, after a file in it was created, renamed or removed (best effort).
void SyncDir(const std::string& dir);

// Prints "error: <what> <path>: <strerror(errno)>" to stderr.
void PrintErrno(const std::string& what, const std::string& path);

}  // namespace eventful::cli
