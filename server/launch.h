// Starting the server from the command line: shared by `eventfuld` and `eventful start`.
//
// Precedence: a flag beats the environment, which beats config.toml.
//   DEK:  --dek, then --dek-file (its content without trailing newline), then EVENTFUL_DEK.
//   port: --port, then EVENTFUL_PORT, then [server] port.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "server/config.h"
#include "server/tls.h"
#include "storage/status.h"

namespace eventful::server {

struct LaunchOptions {
  std::string data_dir = ".eventful";
  std::optional<int> port;
  std::optional<std::string> bind;
  std::optional<int> io_threads;
  std::optional<std::string> dek;
  std::optional<std::string> dek_file;
  bool relaxed_durability = false;  // true overrides config.toml; false keeps its value
  bool strict_schemas = false;      // true overrides config.toml; false keeps its value
  std::optional<uint64_t> memory_threshold;
  TlsOptions tls;
};

// Loads <data_dir>/config.toml, applies the overrides, resolves the DEK and checks it against
// dek_check. *out gets an absolute data_dir and the checked DEK. Errors carry the message for the
// user, e.g. "data encryption key required ..." or "wrong data encryption key".
Status PrepareLaunch(const LaunchOptions& options, ServerConfig* out);

// PrepareLaunch, then RunServer in this process. On a preparation error prints "error: <message>"
// to stderr and returns 1; otherwise returns RunServer's exit code.
int LaunchServer(const LaunchOptions& options);

}  // namespace eventful::server
