// The declarative command table: name, arity, flags, handler. Checks that apply to every command
// run once, in Dispatch(), in a fixed order: lookup and arity -> auth -> permission -> execute.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/resp_writer.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/session.h"
#include "storage/store.h"

namespace eventful::server {

enum CommandFlag : uint32_t {
  kRead = 1u << 0,    // reads events
  kWrite = 1u << 1,   // writes events
  kAdmin = 1u << 2,   // needs admin rights
  kNoAuth = 1u << 3,  // allowed before AUTH
  kFast = 1u << 4,    // O(1)
  kAsync = 1u << 5,   // replies later (ADD): pipelined commands after it wait for it
  kSession = 1u << 6, // changes or ends the session (AUTH, HELLO, QUIT): allowed with a revoked token
};

// Process-wide state that commands may use. Counters are atomics: every I/O thread updates them.
struct ServerContext {
  const ServerConfig* config = nullptr;
  storage::Store* store = nullptr;
  Authenticator* auth = nullptr;
  int64_t started_ms = 0;
  uint16_t port = 0;
  std::atomic<uint64_t> next_client_id{1};
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> total_commands{0};
  std::atomic<uint64_t> rejected_connections{0};
  // Runs work on the background thread (long commands, off the I/O threads).
  std::function<void(std::function<void()>)> run_background;
  std::atomic<bool> stopping{false};  // set at shutdown: background work should give up
};

// Where a command's reply goes. A synchronous handler writes through `out`. An async handler
// calls defer() once and later (from any thread) calls the returned function with a closure that
// writes the reply; the closure runs on the connection's thread, and the connection sends replies
// in command order.
using ReplyFn = std::function<void(protocol::ReplyWriter&)>;
using DeferredReply = std::function<void(ReplyFn)>;
struct CommandContext {
  ServerContext& server;
  Session& session;
  std::span<const std::string_view> argv;
  protocol::ReplyWriter& out;
  std::function<DeferredReply()> defer;
};

using Handler = void (*)(CommandContext&);

struct CommandSpec {
  std::string_view name;  // upper case
  int min_args;           // including the command name
  int max_args;           // -1 = unbounded
  uint32_t flags;
  Handler handler;
  std::string_view group;    // COMMAND DOCS group
  std::string_view summary;  // COMMAND DOCS summary
};

class CommandTable {
 public:
  void Register(CommandSpec spec);
  const CommandSpec* Find(std::string_view name) const;  // case-insensitive
  const std::vector<CommandSpec>& all() const { return specs_; }
  // Runs the pre-dispatch checks and the handler.
  void Dispatch(CommandContext& ctx) const;

 private:
  std::vector<CommandSpec> specs_;
  std::unordered_map<std::string, size_t> index_;  // upper-case name -> specs_ index
};

// Stream-level permission checks of the calling identity: NOPERM naming the stream.
Status CheckRead(const Identity& identity, std::string_view stream);
Status CheckWrite(const Identity& identity, std::string_view stream);
// The GETALL / AGGREGATE:LIST visibility filter of an identity; null when it may read everything.
std::function<bool(std::string_view)> ReadableFilter(const Identity& identity);

// Sends a control request (AppendRequest with `control` or `archive`; actor and client are set
// here) to the store's committer, and replies with make_reply() once it is durable, or the error.
// make_reply runs after the commit, so it may read what the change filled in.
void SubmitControl(CommandContext& ctx, storage::AppendRequest request, std::function<std::string()> make_reply);

// Each command family registers itself from one place (server.cc).
void RegisterHousekeepingCommands(CommandTable& table);
void RegisterEventCommands(CommandTable& table);
void RegisterIntegrityCommands(CommandTable& table);
void RegisterTokenCommands(CommandTable& table);
void RegisterAggregateCommands(CommandTable& table);
void RegisterSchemaCommands(CommandTable& table);

// The table COMMAND reports; set once at start-up before any connection.
const CommandTable& GlobalCommandTable();
void SetGlobalCommandTable(const CommandTable* table);

}  // namespace eventful::server
