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
  // --strict-schemas / --no-strict-schemas: set [server] strict_schemas (neither: keep it).
  bool strict_schemas = false;
  bool no_strict_schemas = false;
  // --rotate-dek: re-encrypt the (stopped) store from --dek to --new-dek (rotate_dek.cc).
  bool rotate_dek = false;
  std::optional<std::string> new_dek;
};
int RunConfig(const ConfigOptions& options);
int RunRotateDek(const ConfigOptions& options);

struct StartOptions {
  server::LaunchOptions launch;
  bool foreground = false;
  std::optional<std::string> tls_auth_clients;  // --tls-auth-clients [yes|no|optional]; "" = yes
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
  std::optional<std::string> token; // default: EVENTFUL_TOKEN, else the session file
                                    // (connection.h ResolveSecret); sent with AUTH first when set
  bool json = false;                // print raw JSON replies, one per line
  bool tls = false;                 // --tls: connect with TLS 1.2+
  std::string cacert;               // --cacert: CA file the server certificate must chain to
  std::string cert;                 // --cert/--key: client certificate for mutual TLS
  std::string key;
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

struct AggregateOptions {
  ConnectionOptions connection;
  std::string stream;
  std::optional<uint64_t> version;  // aggregate:get
  std::string comment;              // aggregate:snapshot
};
int RunAggregateGet(const AggregateOptions& options);       // → AGGREGATE:GET
int RunAggregateSnapshot(const AggregateOptions& options);  // → SNAPSHOT

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

// ---- access control (token_commands.cc): TOKEN:* with one JSON argument built from flags ----
// Exit codes: 0 success, 1 error. In token:revoke and token:refresh `--token` names the token to
// act on (as in the wire command), so there the caller's own secret is given with --auth-token.

// --read/--write (repeatable stream patterns) and --admin. None given = no "permissions" key.
struct PermissionFlags {
  std::vector<std::string> read;
  std::vector<std::string> write;
  bool admin = false;
  bool any() const { return !read.empty() || !write.empty() || admin; }
};

struct TokenGenerateOptions {
  ConnectionOptions connection;
  bool auth_key = false;  // an auth key (--name) instead of an access token
  std::optional<std::string> name;
  std::optional<uint64_t> expiration;  // seconds
  std::optional<uint64_t> limit;       // writes
  std::optional<std::string> identifier_type;
  std::optional<std::string> identifier_id;
  PermissionFlags permissions;
};
int RunTokenGenerate(const TokenGenerateOptions& options);

struct TokenRevokeOptions {
  ConnectionOptions connection;
  std::optional<std::string> token;     // an access token's secret
  std::optional<std::string> id;        // a token's or auth key's id
  std::optional<std::string> auth_key;  // an auth key's secret or name
};
int RunTokenRevoke(const TokenRevokeOptions& options);

struct TokenListOptions {
  ConnectionOptions connection;
  bool active = false;     // only tokens neither revoked nor expired
  std::optional<std::string> cursor;
  std::optional<uint64_t> take;
  bool auth_keys = false;  // list auth keys instead of access tokens
};
int RunTokenList(const TokenListOptions& options);

struct TokenUpdateOptions {
  ConnectionOptions connection;
  std::string auth_key;  // secret or name
  PermissionFlags permissions;
};
int RunTokenUpdate(const TokenUpdateOptions& options);

struct TokenRefreshOptions {
  ConnectionOptions connection;
  std::optional<std::string> token;  // secret
  std::optional<std::string> id;
  std::optional<uint64_t> expiration;  // seconds to add
  std::optional<uint64_t> limit;       // writes to add
};
int RunTokenRefresh(const TokenRefreshOptions& options);

int RunTokenInfo(const ConnectionOptions& connection);

// token:auth [SECRET] [--keep-alive | --logout]: checks the secret (AUTH, then TOKEN:INFO) and
// prints the identity; --keep-alive then stores it in the session file (session_file.h);
// --logout removes the session file. Without SECRET the usual secret (ResolveSecret) is checked.
struct TokenAuthOptions {
  ConnectionOptions connection;
  std::optional<std::string> secret;
  bool keep_alive = false;
  bool logout = false;
};
int RunTokenAuth(const TokenAuthOptions& options);

// ---- schemas, migrations and archival (schema_commands.cc) ----
// Each subcommand sends the command of the same name (SCHEMA:CREATE for schema:create, …;
// SCHEMA:MIGRATE for migrate) with one JSON argument built from its flags; docs/protocol.md
// "Schemas" and "Archival". Exit codes: 0 success, 1 error (the server's error is printed as
// "error: <CODE message>").

struct SchemaCreateOptions {
  ConnectionOptions connection;
  std::optional<std::string> aggregate;
  std::vector<std::string> events;  // --event TYPE=field1,field2 (TYPE or TYPE= : no fields)
  std::optional<uint64_t> snapshot_threshold;
  bool lock = false;                    // "locked": true
  std::vector<std::string> lock_fields; // "locked_fields"
  // --file: a schema document or an export ({"schemas":[…]}) sent as it is; "-" = stdin. Excludes
  // every other flag and the aggregate.
  std::optional<std::string> file;
};
int RunSchemaCreate(const SchemaCreateOptions& options);

struct SchemaAlterOptions {
  ConnectionOptions connection;
  std::string aggregate;
  bool lock = false;
  bool unlock = false;
  std::optional<std::string> field;
  std::optional<std::string> event;
  std::vector<std::string> add;     // comma-separated field lists, repeatable
  std::vector<std::string> remove;
  std::optional<uint64_t> snapshot_threshold;
};
int RunSchemaAlter(const SchemaAlterOptions& options);

struct SchemaRemoveOptions {
  ConnectionOptions connection;
  std::string aggregate;
  std::optional<std::string> event;  // one event type; none: the whole schema
};
int RunSchemaRemove(const SchemaRemoveOptions& options);

int RunSchemaList(const ConnectionOptions& connection);

// With an aggregate: its live and pending schema. Without: the export document, always printed as
// raw JSON, so that `schema:show > f.json` and `schema:create --file f.json` round-trip.
struct SchemaShowOptions {
  ConnectionOptions connection;
  std::optional<std::string> aggregate;
};
int RunSchemaShow(const SchemaShowOptions& options);

// At most one flag; none = --dry-run.
struct MigrateOptions {
  ConnectionOptions connection;
  bool dry_run = false;
  bool apply = false;
  bool discard = false;
};
int RunMigrate(const MigrateOptions& options);

struct ArchiveOptions {
  ConnectionOptions connection;
  std::string stream;
  std::optional<std::string> comment;
};
int RunAggregateArchive(const ArchiveOptions& options);  // → AGGREGATE:ARCHIVE
int RunAggregateRestore(const ArchiveOptions& options);  // → AGGREGATE:RESTORE

// Exactly one of a stream or --all.
struct EventArchiveOptions {
  ConnectionOptions connection;
  std::optional<std::string> stream;
  bool all = false;
};
int RunEventArchive(const EventArchiveOptions& options);

// ---- staged events (apply_commands.cc, staging.h): aggregate:apply stages locally, like
// `git add`; aggregate:commit sends everything staged in one atomic multi-stream ADD ----

struct AggregateApplyOptions {
  std::optional<std::string> stream;
  bool list = false;   // print what is staged
  bool clear = false;  // empty the staging file
  bool json = false;   // --list: the staged lines as they are
  // As in event:add: the event type and the data fields (--NAME=VALUE or --NAME VALUE).
  std::vector<std::string> extras;
};
int RunAggregateApply(const AggregateApplyOptions& options);

// Sends every staged event in one ADD; on success prints the stored events and empties the
// staging file, on any error leaves it as it was.
int RunAggregateCommit(const ConnectionOptions& connection);

}  // namespace eventful::cli
