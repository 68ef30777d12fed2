// The EventfulDB server process: opens the store, serves RESP on Asio I/O threads until SIGTERM or
// SIGINT, then stops accepting, finishes in-flight commands, flushes and returns 0.
#pragma once

#include "server/config.h"

namespace eventful::server {

// Blocks until shutdown. Prints "eventful: listening on <bind>:<port>" on stdout (flushed) once
// the port accepts connections — tests read that line to learn the port when port == 0.
// Returns the process exit code (non-zero when the store cannot be opened or the port bound).
int RunServer(const ServerConfig& config);

}  // namespace eventful::server
