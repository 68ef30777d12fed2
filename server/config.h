// Server configuration: <data-dir>/config.toml, written by `eventful config`, read by `start`.
//
// config.toml never holds a secret in plain text: the master key and the DEK are kept as salted
// check values (PBKDF2-HMAC-SHA256), see server/secrets.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/tls.h"
#include "storage/status.h"

namespace eventful::server {

struct ServerConfig {
  // [server]
  std::string data_dir = ".eventful";  // config.toml and db/ live here
  std::string bind = "127.0.0.1";
  int port = 9595;                     // 0 = pick a free port (printed at start)
  int io_threads = 2;
  bool strict_schemas = false;         // ADD to a category without a schema is INVALID
  // [storage]
  uint64_t memory_threshold = 100000;  // events kept in the recent-event cache (FIFO)
  bool relaxed_durability = false;     // true: ADD replies before the WAL is synced
  std::string store_dir = "db";        // the RocksDB store: <data_dir>/<store_dir>
  // [limits]
  uint64_t max_bulk = 16u << 20;
  uint64_t max_args = 1024;
  uint64_t max_events_per_add = 10000;
  uint64_t max_event_bytes = 1u << 20;
  // [secrets] — check values only
  std::string master_key_check;
  std::string dek_check;
  // The tree-head signing key (server/treehead_key.h): public key hex, private key sealed with
  // the DEK.
  std::string treehead_public_key;
  std::string treehead_private_key;
  // The key of the token secrets' keyed hashes (HMAC-SHA256), sealed with the DEK: a random key
  // rather than one derived from the DEK, so that rotating the DEK keeps every token valid.
  std::string token_key;

  // Not stored: the DEK given at start (--dek, EVENTFUL_DEK or --dek-file), already checked.
  std::string dek;
  // Not stored: the unsealed Ed25519 private key (32 raw bytes), set by PrepareLaunch.
  std::string treehead_seed;
  // Not stored: the unsealed token key (32 raw bytes), set by PrepareLaunch.
  std::string token_key_raw;

  // Not stored: TLS settings from the command line (server/tls.h).
  TlsOptions tls;

  std::string StorePath() const { return data_dir + "/" + store_dir; }
};

inline constexpr std::string_view kTokenKeyLabel = "eventful token key v1";

// Reads <data_dir>/config.toml into *out (data_dir is set from the argument). A missing file →
// ERR "no configuration in <dir>: run `eventful config` first".
Status LoadConfig(const std::string& data_dir, ServerConfig* out);
// Writes <data_dir>/config.toml (mode 0600, atomically via rename), creating data_dir (0700).
Status SaveConfig(const ServerConfig& config);

}  // namespace eventful::server
