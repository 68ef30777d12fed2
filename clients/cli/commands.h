// The `eventful` subcommands as plain functions over option structs. main.cc (the only file that
// includes CLI11) fills the structs from the command line; each Run* prints its own output and
// errors and returns the process exit code: 0 success, 1 error, 2 verification failed (verify).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/launch.h"

namespace eventful::cli {

// ---- server management (manage_*.cc) ----

struct ConfigOptions {
  std::string data_dir = "./.eventful";
  std::optional<std::string> master_key;
  std::optional<std::string> dek;
  std::optional<uint64_t> memory_threshold;
  std::optional<int> port;
  std::optional<std::string> bind;
  std::optional<int> io_threads;
  bool generate = false;
};
int RunConfig(const ConfigOptions& options);

struct StartOptions {
  server::LaunchOptions launch;
  bool foreground = false;
};
int RunStart(const StartOptions& options);

struct StopOptions {
  std::string data_dir = "./.eventful";
  bool force = false;  // SIGKILL instead of SIGTERM
};
int RunStop(const StopOptions& options);
// Stop (a server that is not running is fine), then start.
int RunRestart(const StopOptions& stop, const StartOptions& start);

struct DestroyOptions {
  std::string data_dir = "./.eventful";
  bool yes = false;  // skip the confirmation prompt
};
int RunDestroy(const DestroyOptions& options);

// ---- client subcommands (client_commands.cc), over hiredis/RESP2 ----

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  std::optional<int> port;          // default: EVENTFUL_PORT, else 9595
  std::optional<std::string> token; // default: EVENTFUL_TOKEN; sent with AUTH first when set
  bool json = false;                // print raw JSON replies, one per line
};

struct EventAddOptions {
  ConnectionOptions connection;
  std::string stream;
  std::optional<std::string> expected_version;  // N, "any" or "exists"
  std::optional<std::string> id;
  // Every other argument, in order: the event type (one bare word) and the data fields as
  // `--name=value` or `--name value`.
  std::vector<std::string> extras;
};
int RunEventAdd(const EventAddOptions& options);

struct ReplayOptions {
  ConnectionOptions connection;
  std::string stream;
  int64_t skip = 0;
  std::optional<int64_t> take;  // default: the whole stream, fetched in pages
};
int RunReplay(const ReplayOptions& options);

struct ListOptions {
  ConnectionOptions connection;
  std::optional<std::string> pattern;
  std::optional<std::string> after;
  std::optional<int64_t> limit;
};
int RunList(const ListOptions& options);

struct EventGetOptions {
  ConnectionOptions connection;
  std::optional<std::string> hash;
  std::optional<std::string> id;
};
int RunEventGet(const EventGetOptions& options);

struct VerifyOptions {
  ConnectionOptions connection;
  std::string stream;
};
int RunVerify(const VerifyOptions& options);

int RunChecksum(const ConnectionOptions& connection);

// ---- integrity checks made by the client (integrity_commands.cc, proof_check.h) ----
// Exit codes: 0 verified, 2 verification failed, 1 error (bad arguments, unknown stream, I/O).

// An inclusion proof for one event: by stream and version, or by global position.
struct ProofOptions {
  ConnectionOptions connection;
  std::optional<std::string> stream;
  std::optional<uint64_t> version;
  std::optional<uint64_t> position;
  std::optional<uint64_t> tree_size;  // default: the size of the current signed tree head
};
int RunProof(const ProofOptions& options);

struct ConsistencyOptions {
  ConnectionOptions connection;
  std::optional<std::string> stream;  // default: the global log
  uint64_t from = 0;
  std::optional<uint64_t> to;              // default: the size of the current signed tree head
  std::optional<std::string> from_root;    // a remembered root of the tree of size `from` (hex)
};
int RunConsistency(const ConsistencyOptions& options);

struct TreeheadOptions {
  ConnectionOptions connection;
  std::optional<std::string> stream;  // default: the global log
};
int RunTreehead(const TreeheadOptions& options);

// The whole store: through the server (VERIFY {}), or offline with data_dir set (the server
// must be stopped: the store is opened directly).
struct StoreVerifyOptions {
  ConnectionOptions connection;
  std::optional<std::string> data_dir;
  std::optional<std::string> dek;       // offline: the DEK (else --dek-file, else EVENTFUL_DEK)
  std::optional<std::string> dek_file;
};
int RunStoreVerify(const StoreVerifyOptions& options);

}  // namespace eventful::cli
