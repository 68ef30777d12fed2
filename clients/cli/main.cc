// `eventful`: the command line. This is the only file that includes CLI11 (a heavy header); it
// maps arguments onto the option structs of commands.h and dispatches.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <eventful/version.h>

#include "clients/cli/commands.h"

namespace {

using namespace eventful::cli;

constexpr const char* kDefaultDataDir = "./.eventful";

// CLI11 2.1 rejects ':' in subcommand names but not in App::name(), which sets it afterwards.
CLI::App* AddCommand(CLI::App& app, const std::string& name, const std::string& description) {
  std::string placeholder = name;
  for (char& c : placeholder) {
    if (c == ':') c = '-';
  }
  return app.add_subcommand(placeholder, description)->name(name);
}

void AddDataDir(CLI::App* cmd, std::string* data_dir) {
  cmd->add_option("--data-dir", *data_dir, "Data directory (config.toml, db/, eventful.log, eventful.pid)")
      ->capture_default_str();
}

// `secret_option` names the caller's secret: --token, except where --token names the token a
// command acts on (token:revoke, token:refresh), which use --auth-token.
void AddConnection(CLI::App* cmd, ConnectionOptions* c, const std::string& secret_option = "--token") {
  cmd->add_option("--host", c->host, "Server host")->capture_default_str();
  cmd->add_option("--port", c->port, "Server port (default: EVENTFUL_PORT, else 9595)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option(secret_option, c->token,
                  "Master key, auth key or access token, sent with AUTH (default: EVENTFUL_TOKEN, else the "
                  "session file of `token:auth --keep-alive`)");
  cmd->add_flag("--json", c->json, "Print the raw JSON replies, one per line");
  cmd->add_flag("--tls", c->tls, "Connect with TLS (1.2+); the server certificate must verify");
  cmd->add_option("--cacert", c->cacert, "With --tls: CA file the server certificate must chain to");
  cmd->add_option("--cert", c->cert, "With --tls: client certificate (PEM) for mutual TLS");
  cmd->add_option("--key", c->key, "With --tls: the client certificate's private key (PEM)");
}

void AddPermissions(CLI::App* cmd, PermissionFlags* p) {
  cmd->add_option("--read", p->read, "Stream pattern the token may read (repeatable), e.g. 'patient.>'")
      ->allow_extra_args(false);
  cmd->add_option("--write", p->write, "Stream pattern the token may write (repeatable)")->allow_extra_args(false);
  cmd->add_flag("--admin", p->admin, "Admin rights (tokens, schemas, $audit)");
}

void AddStart(CLI::App* cmd, StartOptions* s) {
  eventful::server::LaunchOptions& l = s->launch;
  AddDataDir(cmd, &l.data_dir);
  cmd->add_option("--port", l.port, "TCP port, 0 = any free port (default: EVENTFUL_PORT, then config)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--bind", l.bind, "Address to listen on (default: config, 127.0.0.1)");
  cmd->add_option("--io-threads", l.io_threads, "I/O threads (default: config, 2)")->check(CLI::Range(1, 1024));
  cmd->add_option("--dek", l.dek,
                  "Data encryption key (visible in `ps`; prefer --dek-file or EVENTFUL_DEK)");
  cmd->add_option("--dek-file", l.dek_file, "Read the data encryption key from this file");
  cmd->add_flag("--relaxed-durability", l.relaxed_durability,
                "Reply to ADD before the write-ahead log is synced");
  cmd->add_option("--memory-threshold", l.memory_threshold, "Events kept in the recent-event cache");
  cmd->add_flag("--foreground", s->foreground, "Run in this process instead of as a daemon");
  cmd->add_option("--tls-port", l.tls.port, "Also serve TLS (1.2+) on this port, 0 = any free port")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--tls-cert", l.tls.cert_file, "PEM certificate chain for TLS");
  cmd->add_option("--tls-key", l.tls.key_file, "PEM private key for TLS");
  cmd->add_option("--tls-ca", l.tls.ca_file, "PEM CA certificates that client certificates must chain to");
  cmd->add_option("--tls-auth-clients", s->tls_auth_clients, "Mutual TLS: yes (the default when given), no, optional")
      ->expected(0, 1);
  cmd->add_flag("--tls-only", l.tls.tls_only, "No plain-text port: TLS only");
  cmd->add_flag("--strict-schemas", l.strict_schemas,
                "Reject ADD to a category without a schema (default: config.toml's strict_schemas)");
}

// --tls-auth-clients' value (CLI11 leaves it as text) into the launch options.
bool ApplyTlsAuth(StartOptions* s) {
  if (!s->tls_auth_clients) return true;
  if (eventful::Status st = eventful::server::ParseClientAuth(*s->tls_auth_clients, &s->launch.tls.client_auth); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"EventfulDB: a tamper-evident event store that speaks RESP.", "eventful"};
  app.set_version_flag("-V,--version", eventful::kVersion);
  app.require_subcommand(1);

  // ---- server management ----
  ConfigOptions config;
  CLI::App* config_cmd = app.add_subcommand(
      "config", "Create or update <data-dir>/config.toml (secrets are stored as check values only)");
  AddDataDir(config_cmd, &config.data_dir);
  config_cmd->add_option("--master-key", config.master_key, "Master key (admin secret for AUTH)");
  config_cmd->add_option("--dek", config.dek, "Data encryption key (change it with --rotate-dek)");
  config_cmd->add_flag("--rotate-dek", config.rotate_dek,
                       "Re-encrypt the stopped server's store from --dek to --new-dek (crash-safe)");
  config_cmd->add_option("--new-dek", config.new_dek, "With --rotate-dek: the new data encryption key");
  config_cmd->add_option("--memory-threshold", config.memory_threshold, "Events kept in the recent-event cache");
  config_cmd->add_option("--port", config.port, "TCP port, 0 = any free port")->check(CLI::Range(0, 65535));
  config_cmd->add_option("--bind", config.bind, "Address to listen on");
  config_cmd->add_option("--io-threads", config.io_threads, "I/O threads")->check(CLI::Range(1, 1024));
  config_cmd->add_flag("--generate", config.generate,
                       "Generate the master key and/or DEK not given (printed once, never stored)");
  config_cmd->add_flag("--strict-schemas", config.strict_schemas,
                       "Reject ADD to a category without a schema (strict_schemas = true)");
  config_cmd->add_flag("--no-strict-schemas", config.no_strict_schemas,
                       "Accept ADD to categories without a schema (strict_schemas = false, the default)");

  StartOptions start;
  start.launch.data_dir = kDefaultDataDir;
  CLI::App* start_cmd = app.add_subcommand("start", "Start the server (as a daemon unless --foreground)");
  AddStart(start_cmd, &start);

  StopOptions stop;
  CLI::App* stop_cmd = app.add_subcommand("stop", "Stop the server (SIGTERM, waits up to 30 s)");
  AddDataDir(stop_cmd, &stop.data_dir);
  stop_cmd->add_flag("--force", stop.force, "Kill the server (SIGKILL)");

  StartOptions restart;
  restart.launch.data_dir = kDefaultDataDir;
  bool restart_force = false;
  CLI::App* restart_cmd = app.add_subcommand("restart", "Stop, then start the server");
  AddStart(restart_cmd, &restart);
  restart_cmd->add_flag("--force", restart_force, "Kill the running server (SIGKILL)");

  DestroyOptions destroy;
  CLI::App* destroy_cmd = app.add_subcommand("destroy", "Delete the data directory (asks first)");
  AddDataDir(destroy_cmd, &destroy.data_dir);
  destroy_cmd->add_flag("-y,--yes", destroy.yes, "Do not ask for confirmation");

  // ---- client commands ----
  EventAddOptions add;
  CLI::App* add_cmd = AddCommand(app, "event:add", "Append one event: event:add TYPE --stream=S [--FIELD=VALUE ...]");
  add_cmd->allow_extras();
  add_cmd->add_option("--stream", add.stream, "Stream (aggregate instance), e.g. patient.42")->required();
  add_cmd->add_option("--expected-version", add.expected_version,
                      "Expected stream version: N, any (default) or exists");
  add_cmd->add_option("--id", add.id, "Event id (default: assigned by the server)");
  AddConnection(add_cmd, &add.connection);
  add_cmd->footer(
      "TYPE is the event type. Every other --NAME=VALUE (or --NAME VALUE) becomes a string field of\n"
      "the event's data, e.g.  eventful event:add patient-updated --stream=patient.42 --status=deceased\n"
      "(the options listed above keep their meaning: a field cannot be called stream, id, host, ...)");

  ReplayOptions replay;
  CLI::App* replay_cmd = AddCommand(app, "aggregate:replay", "Print a stream's events in order");
  replay_cmd->add_option("stream", replay.stream, "Stream")->required();
  replay_cmd->add_option("--skip", replay.skip, "Start after this version")->capture_default_str();
  replay_cmd->add_option("--take", replay.take, "At most this many events (default: all)");
  AddConnection(replay_cmd, &replay.connection);

  ListOptions list;
  CLI::App* list_cmd = AddCommand(app, "aggregate:list", "List streams with their version and root");
  list_cmd->add_option("--pattern", list.pattern, "Stream pattern (NATS rules: * one token, > the rest)");
  list_cmd->add_option("--after", list.after, "Start after this stream name");
  list_cmd->add_option("--limit", list.limit, "At most this many streams");
  AddConnection(list_cmd, &list.connection);

  EventGetOptions get;
  CLI::App* get_cmd = AddCommand(app, "event:get", "Print one event, by hash or by --id");
  get_cmd->add_option("hash", get.hash, "Event hash (64 hex characters)");
  get_cmd->add_option("--id", get.id, "Event id instead of a hash");
  AddConnection(get_cmd, &get.connection);

  AggregateOptions aggregate_get;
  CLI::App* aggregate_get_cmd = AddCommand(app, "aggregate:get", "An aggregate's state at its latest or a given version");
  aggregate_get_cmd->add_option("stream", aggregate_get.stream, "Stream")->required();
  aggregate_get_cmd->add_option("version", aggregate_get.version, "Version (default: the latest)");
  AddConnection(aggregate_get_cmd, &aggregate_get.connection);

  AggregateOptions aggregate_snapshot;
  CLI::App* aggregate_snapshot_cmd =
      AddCommand(app, "aggregate:snapshot", "Store a snapshot of the aggregate's current state");
  aggregate_snapshot_cmd->add_option("stream", aggregate_snapshot.stream, "Stream")->required();
  aggregate_snapshot_cmd->add_option("--comment", aggregate_snapshot.comment, "Why the snapshot was taken");
  AddConnection(aggregate_snapshot_cmd, &aggregate_snapshot.connection);

  VerifyOptions verify;
  CLI::App* verify_cmd = AddCommand(app, "aggregate:verify",
                                    "Recompute a stream's hashes and Merkle root (exit 2 when it fails)");
  verify_cmd->add_option("stream", verify.stream, "Stream")->required();
  AddConnection(verify_cmd, &verify.connection);

  ConnectionOptions checksum;
  CLI::App* checksum_cmd = app.add_subcommand("checksum", "Print the event count, global root and last event id");
  AddConnection(checksum_cmd, &checksum);

  // ---- integrity, checked by the client (exit 0 verified, 2 verification failed, 1 error) ----
  ProofOptions proof;
  CLI::App* proof_cmd = app.add_subcommand(
      "proof", "Prove that an event is in its stream's tree (or, with --position, in the log's tree), checked here");
  proof_cmd->add_option("stream", proof.stream, "Stream");
  proof_cmd->add_option("version", proof.version, "The event's version in the stream");
  proof_cmd->add_option("--position", proof.position, "The event's global position instead of STREAM VERSION");
  proof_cmd->add_option("--tree-size", proof.tree_size, "Size of the tree to prove against (default: current)");
  AddConnection(proof_cmd, &proof.connection);

  ConsistencyOptions consistency;
  CLI::App* consistency_cmd = app.add_subcommand(
      "consistency", "Prove that a tree of size --from is a prefix of the current one (history only extended)");
  consistency_cmd->add_option("--from", consistency.from, "The earlier tree size")->required();
  consistency_cmd->add_option("--to", consistency.to, "The later tree size (default: the signed current size)");
  consistency_cmd->add_option("--stream", consistency.stream, "Stream (default: the global log)");
  consistency_cmd->add_option("--from-root", consistency.from_root,
                              "The root remembered for size --from (e.g. from an earlier `eventful treehead`)");
  AddConnection(consistency_cmd, &consistency.connection);

  TreeheadOptions treehead;
  CLI::App* treehead_cmd =
      app.add_subcommand("treehead", "Print the signed tree head (size, root) after checking its signature");
  treehead_cmd->add_option("--stream", treehead.stream, "Stream (default: the global log)");
  AddConnection(treehead_cmd, &treehead.connection);

  StoreVerifyOptions store_verify;
  CLI::App* store_verify_cmd = app.add_subcommand(
      "verify", "Recompute every hash and root of the store (exit 2 when it fails); --data-dir: offline");
  store_verify_cmd->add_option("--data-dir", store_verify.data_dir,
                               "Verify this stopped server's data directory directly instead of asking the server");
  store_verify_cmd->add_option("--dek", store_verify.dek, "Offline: the data encryption key (default: EVENTFUL_DEK)");
  store_verify_cmd->add_option("--dek-file", store_verify.dek_file, "Offline: a file holding the data encryption key");
  AddConnection(store_verify_cmd, &store_verify.connection);

  // ---- access control: TOKEN:* ----
  TokenGenerateOptions token_generate;
  CLI::App* token_generate_cmd = AddCommand(
      app, "token:generate",
      "Create an access token (--expiration --limit --identifier-type --identifier-id) or, with the master key, an "
      "auth key (--auth-key --name); the secret is printed once");
  token_generate_cmd->add_flag("--auth-key", token_generate.auth_key, "Create an auth key (master key only)");
  token_generate_cmd->add_option("--name", token_generate.name, "The auth key's unique name, e.g. patient-app");
  token_generate_cmd->add_option("--expiration", token_generate.expiration, "Access token: lifetime in seconds");
  token_generate_cmd->add_option("--limit", token_generate.limit, "Access token: number of events it may write");
  token_generate_cmd->add_option("--identifier-type", token_generate.identifier_type,
                                 "Access token: kind of the user's id in your system, e.g. npi");
  token_generate_cmd->add_option("--identifier-id", token_generate.identifier_id,
                                 "Access token: the user's id, e.g. 1234567 (events record npi:1234567 as actor)");
  AddPermissions(token_generate_cmd, &token_generate.permissions);
  AddConnection(token_generate_cmd, &token_generate.connection);
  token_generate_cmd->footer(
      "Without --read/--write/--admin the token gets its minter's permissions without admin.");

  TokenRevokeOptions token_revoke;
  CLI::App* token_revoke_cmd = AddCommand(
      app, "token:revoke", "Revoke an access token, or an auth key and every token it minted (takes effect at once)");
  token_revoke_cmd->add_option("--token", token_revoke.token, "The access token's secret");
  token_revoke_cmd->add_option("--id", token_revoke.id, "The token's or auth key's id");
  token_revoke_cmd->add_option("--auth-key", token_revoke.auth_key, "The auth key's secret or name");
  AddConnection(token_revoke_cmd, &token_revoke.connection, "--auth-token");

  TokenListOptions token_list;
  CLI::App* token_list_cmd =
      AddCommand(app, "token:list", "List access tokens (or --auth-keys), never their secrets");
  token_list_cmd->add_flag("--active", token_list.active, "Only tokens neither revoked nor expired");
  token_list_cmd->add_option("--cursor", token_list.cursor, "Start after this token id (the last one of a page)");
  token_list_cmd->add_option("--take", token_list.take, "Page size (default 100)");
  token_list_cmd->add_flag("--auth-keys", token_list.auth_keys, "List auth keys instead (admin)");
  AddConnection(token_list_cmd, &token_list.connection);

  TokenUpdateOptions token_update;
  CLI::App* token_update_cmd =
      AddCommand(app, "token:update", "Replace an auth key's permissions (admin)");
  token_update_cmd->add_option("--auth-key", token_update.auth_key, "The auth key's secret or name")->required();
  AddPermissions(token_update_cmd, &token_update.permissions);
  AddConnection(token_update_cmd, &token_update.connection);

  TokenRefreshOptions token_refresh;
  CLI::App* token_refresh_cmd =
      AddCommand(app, "token:refresh", "Add time and/or writes to an access token (never widens permissions)");
  token_refresh_cmd->add_option("--token", token_refresh.token, "The access token's secret");
  token_refresh_cmd->add_option("--id", token_refresh.id, "The access token's id");
  token_refresh_cmd->add_option("--expiration", token_refresh.expiration, "Seconds to add to its expiry");
  token_refresh_cmd->add_option("--limit", token_refresh.limit, "Writes to add to its budget");
  AddConnection(token_refresh_cmd, &token_refresh.connection, "--auth-token");

  ConnectionOptions token_info;
  CLI::App* token_info_cmd =
      AddCommand(app, "token:info", "Print who the secret in use is: identity, permissions, expiry, writes left");
  AddConnection(token_info_cmd, &token_info);

  TokenAuthOptions token_auth;
  CLI::App* token_auth_cmd = AddCommand(
      app, "token:auth",
      "Check a secret against the server and print its identity; --keep-alive stores it for later commands");
  token_auth_cmd->add_option("secret", token_auth.secret, "Master key, auth key or access token");
  token_auth_cmd->add_flag("--keep-alive", token_auth.keep_alive,
                           "Store the secret in $XDG_CONFIG_HOME/eventful/session (mode 0600)");
  token_auth_cmd->add_flag("--logout", token_auth.logout, "Remove the session file");
  AddConnection(token_auth_cmd, &token_auth.connection);

  // ---- schemas and migrations: SCHEMA:* (changes are staged until `migrate --apply`) ----
  SchemaCreateOptions schema_create;
  CLI::App* schema_create_cmd = AddCommand(
      app, "schema:create",
      "Stage a new schema: schema:create AGGREGATE --event TYPE=FIELD,FIELD ... (or --file=FILE: a schema or export)");
  schema_create_cmd->add_option("aggregate", schema_create.aggregate, "Aggregate type (stream category), e.g. patient");
  schema_create_cmd->add_option("--event", schema_create.events,
                                "Event type and its fields: TYPE=FIELD,FIELD (TYPE or TYPE= : no fields; repeatable)")
      ->allow_extra_args(false);
  schema_create_cmd->add_option("--snapshot-threshold", schema_create.snapshot_threshold,
                                "Store a snapshot every N events of a stream (0 = never)");
  schema_create_cmd->add_flag("--lock", schema_create.lock, "Create the aggregate type locked (no ADD)");
  schema_create_cmd->add_option("--lock-field", schema_create.lock_fields, "Locked field (repeatable)")
      ->allow_extra_args(false);
  schema_create_cmd->add_option("--file", schema_create.file,
                                "Send this JSON document as it is (a schema, or the export of `schema:show`); - = stdin");
  AddConnection(schema_create_cmd, &schema_create.connection);

  SchemaAlterOptions schema_alter;
  CLI::App* schema_alter_cmd = AddCommand(app, "schema:alter", "Stage a change of a schema");
  schema_alter_cmd->add_option("aggregate", schema_alter.aggregate, "Aggregate type")->required();
  schema_alter_cmd->add_flag("--lock", schema_alter.lock, "Lock the aggregate type (or, with --field, the field)");
  schema_alter_cmd->add_flag("--unlock", schema_alter.unlock, "Unlock the aggregate type (or, with --field, the field)");
  schema_alter_cmd->add_option("--field", schema_alter.field, "With --lock/--unlock: the field, in every event type");
  schema_alter_cmd->add_option("--event", schema_alter.event, "With --add/--remove: the event type (--add creates it)");
  schema_alter_cmd->add_option("--add", schema_alter.add, "Fields to add to --event: A,B (repeatable)")
      ->allow_extra_args(false);
  schema_alter_cmd->add_option("--remove", schema_alter.remove, "Fields to remove from --event: A,B (repeatable)")
      ->allow_extra_args(false);
  schema_alter_cmd->add_option("--snapshot-threshold", schema_alter.snapshot_threshold,
                               "Store a snapshot every N events of a stream (0 = never)");
  AddConnection(schema_alter_cmd, &schema_alter.connection);

  SchemaRemoveOptions schema_remove;
  CLI::App* schema_remove_cmd =
      AddCommand(app, "schema:remove", "Stage the removal of a schema, or with --event of one event type");
  schema_remove_cmd->add_option("aggregate", schema_remove.aggregate, "Aggregate type")->required();
  schema_remove_cmd->add_option("--event", schema_remove.event, "Remove only this event type");
  AddConnection(schema_remove_cmd, &schema_remove.connection);

  ConnectionOptions schema_list;
  CLI::App* schema_list_cmd = AddCommand(app, "schema:list", "List the schemas, live and pending");
  AddConnection(schema_list_cmd, &schema_list);

  SchemaShowOptions schema_show;
  CLI::App* schema_show_cmd = AddCommand(
      app, "schema:show",
      "Show an aggregate's live and pending schema; without one, print the export document (JSON) of all live schemas");
  schema_show_cmd->add_option("aggregate", schema_show.aggregate, "Aggregate type");
  AddConnection(schema_show_cmd, &schema_show.connection);
  schema_show_cmd->footer("eventful schema:show > schemas.json  … later:  eventful schema:create --file schemas.json");

  MigrateOptions migrate;
  CLI::App* migrate_cmd = app.add_subcommand(
      "migrate", "Show the staged schema changes (dry run), or make them live (--apply) or drop them (--discard)");
  migrate_cmd->add_flag("--dry-run", migrate.dry_run, "Only show what --apply would change (the default)");
  migrate_cmd->add_flag("-f,--apply", migrate.apply, "Make all staged changes live, atomically, as the next schema version");
  migrate_cmd->add_flag("--discard", migrate.discard, "Drop all staged changes");
  AddConnection(migrate_cmd, &migrate.connection);

  // ---- archival ----
  ArchiveOptions aggregate_archive;
  CLI::App* aggregate_archive_cmd =
      AddCommand(app, "aggregate:archive", "Move a stream's events to the archive and lock the stream");
  aggregate_archive_cmd->add_option("stream", aggregate_archive.stream, "Stream")->required();
  aggregate_archive_cmd->add_option("--comment", aggregate_archive.comment, "Why (recorded in the $audit event)");
  AddConnection(aggregate_archive_cmd, &aggregate_archive.connection);

  ArchiveOptions aggregate_restore;
  CLI::App* aggregate_restore_cmd =
      AddCommand(app, "aggregate:restore", "Move an archived stream's events back and unlock the stream");
  aggregate_restore_cmd->add_option("stream", aggregate_restore.stream, "Stream")->required();
  aggregate_restore_cmd->add_option("--comment", aggregate_restore.comment, "Why (recorded in the $audit event)");
  AddConnection(aggregate_restore_cmd, &aggregate_restore.connection);

  EventArchiveOptions event_archive;
  CLI::App* event_archive_cmd = AddCommand(
      app, "event:archive", "Move a stream's events (or --all streams') to the archive without locking anything");
  event_archive_cmd->add_option("stream", event_archive.stream, "Stream");
  event_archive_cmd->add_flag("--all", event_archive.all, "Every stream");
  AddConnection(event_archive_cmd, &event_archive.connection);

  // ---- staged events: apply locally, commit in one ADD ----
  AggregateApplyOptions aggregate_apply;
  CLI::App* aggregate_apply_cmd = AddCommand(
      app, "aggregate:apply",
      "Stage one event locally (nothing is sent): aggregate:apply TYPE --stream=S [--FIELD=VALUE ...]; --list, --clear");
  aggregate_apply_cmd->allow_extras();
  aggregate_apply_cmd->add_option("--stream", aggregate_apply.stream, "Stream (aggregate instance), e.g. patient.42");
  aggregate_apply_cmd->add_flag("--list", aggregate_apply.list, "Print the staged events");
  aggregate_apply_cmd->add_flag("--clear", aggregate_apply.clear, "Drop every staged event");
  aggregate_apply_cmd->add_flag("--json", aggregate_apply.json, "With --list: the staged JSON lines as they are");
  aggregate_apply_cmd->footer(
      "Events are staged in $XDG_CONFIG_HOME/eventful/staged (default ~/.config/eventful/staged, mode 0600) until\n"
      "`eventful aggregate:commit` sends them all in one atomic ADD. Every other --NAME=VALUE (or --NAME VALUE)\n"
      "becomes a string field of the event's data, as in event:add.");

  ConnectionOptions aggregate_commit;
  CLI::App* aggregate_commit_cmd = AddCommand(
      app, "aggregate:commit",
      "Send every staged event in one atomic ADD (all or nothing); the staging file is emptied only on success");
  AddConnection(aggregate_commit_cmd, &aggregate_commit);

  if (argc < 2) {
    std::fputs(app.help().c_str(), stderr);
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A usage error is an error (1): exit code 2 means "verification failed" (commands.h).
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }

  if (!ApplyTlsAuth(&start) || !ApplyTlsAuth(&restart)) return 1;
  if (*config_cmd) return RunConfig(config);
  if (*start_cmd) return RunStart(start);
  if (*stop_cmd) return RunStop(stop);
  if (*restart_cmd) return RunRestart(StopOptions{restart.launch.data_dir, restart_force}, restart);
  if (*destroy_cmd) return RunDestroy(destroy);
  if (*add_cmd) {
    add.extras = add_cmd->remaining();
    return RunEventAdd(add);
  }
  if (*replay_cmd) return RunReplay(replay);
  if (*list_cmd) return RunList(list);
  if (*get_cmd) return RunEventGet(get);
  if (*aggregate_get_cmd) return RunAggregateGet(aggregate_get);
  if (*aggregate_snapshot_cmd) return RunAggregateSnapshot(aggregate_snapshot);
  if (*verify_cmd) return RunVerify(verify);
  if (*checksum_cmd) return RunChecksum(checksum);
  if (*proof_cmd) return RunProof(proof);
  if (*consistency_cmd) return RunConsistency(consistency);
  if (*treehead_cmd) return RunTreehead(treehead);
  if (*store_verify_cmd) return RunStoreVerify(store_verify);
  if (*token_generate_cmd) return RunTokenGenerate(token_generate);
  if (*token_revoke_cmd) return RunTokenRevoke(token_revoke);
  if (*token_list_cmd) return RunTokenList(token_list);
  if (*token_update_cmd) return RunTokenUpdate(token_update);
  if (*token_refresh_cmd) return RunTokenRefresh(token_refresh);
  if (*token_info_cmd) return RunTokenInfo(token_info);
  if (*token_auth_cmd) return RunTokenAuth(token_auth);
  if (*schema_create_cmd) return RunSchemaCreate(schema_create);
  if (*schema_alter_cmd) return RunSchemaAlter(schema_alter);
  if (*schema_remove_cmd) return RunSchemaRemove(schema_remove);
  if (*schema_list_cmd) return RunSchemaList(schema_list);
  if (*schema_show_cmd) return RunSchemaShow(schema_show);
  if (*migrate_cmd) return RunMigrate(migrate);
  if (*aggregate_archive_cmd) return RunAggregateArchive(aggregate_archive);
  if (*aggregate_restore_cmd) return RunAggregateRestore(aggregate_restore);
  if (*event_archive_cmd) return RunEventArchive(event_archive);
  if (*aggregate_apply_cmd) {
    aggregate_apply.extras = aggregate_apply_cmd->remaining();
    return RunAggregateApply(aggregate_apply);
  }
  if (*aggregate_commit_cmd) return RunAggregateCommit(aggregate_commit);
  return 1;
}
