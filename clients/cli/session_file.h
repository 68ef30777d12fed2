// The CLI's session file: the secret `eventful token:auth <secret> --keep-alive` stored for later
// commands, at $XDG_CONFIG_HOME/eventful/session (default ~/.config/eventful/session).
//
// Format: the secret followed by one newline, nothing else. The file is mode 0600 in a directory
// created 0700; it is replaced atomically (a 0600 temporary file in the same directory, fsync,
// rename), so a reader sees the old secret or the new one, never a partial file.
#pragma once

#include <optional>
#include <string>

namespace eventful::cli {

// The session file's path; nullopt (after printing an error) when neither XDG_CONFIG_HOME nor a
// home directory is known.
std::optional<std::string> SessionPath();

// The stored secret; nullopt when there is no session file (or it is empty). An unreadable file
// prints an error and returns nullopt. Warns on stderr when the file is readable by others.
std::optional<std::string> ReadSession();

// Stores `secret` (see the format above). Prints an error and returns false on failure.
bool WriteSession(const std::string& secret, std::string* path_out);

// Removes the session file. *removed tells whether there was one. False (after printing an error)
// when it exists but cannot be removed.
bool RemoveSession(bool* removed, std::string* path_out);

}  // namespace eventful::cli
