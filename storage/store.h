// The event store: RocksDB with the column families of column_families.h.
//
// Writes go through one committer thread (group commit): Append() queues a request; the committer
// takes every request that arrived meanwhile, checks each in arrival order against the committed
// state plus the effects of the requests before it in the same group (so expected-version checks
// are serialised and versions/positions never gap or repeat), puts all accepted effects in ONE
// WriteBatch, writes it with one WAL sync, and only then publishes the new state and calls each
// request's callback. A rejected request changes nothing; a failed write fails the whole group.
//
// Reads (Read, ReadAll, lookups, Verify*) run on the caller's thread directly against RocksDB and
// the recent-event cache; they see only durably committed events.
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/append.h"
#include "storage/encryption.h"
#include "storage/hash.h"
#include "storage/names.h"
#include "storage/schema.h"
#include "storage/status.h"
#include "storage/token.h"

namespace eventful::storage {

class StoreImpl;

using EventRef = std::shared_ptr<const std::string>;  // an event's JSON

struct StoreOptions {
  std::string path;                  // the RocksDB directory
  uint64_t cache_events = 100000;    // recent-event cache capacity (0 = off)
  bool sync = true;                  // false: relaxed durability (no WAL sync per group)
  uint64_t max_event_bytes = 1u << 20;  // canonical JSON size limit per event (LIMIT)
  bool strict_schemas = false;       // ADD to a category without a schema → INVALID
  // Every file of the store is encrypted with this key (encryption.h). Unset = plain files, for
  // tests of the storage layer alone; the server always sets it.
  std::optional<DataKey> encryption_key;
};

struct ReadRequest {
  std::string stream;
  std::optional<uint64_t> version;  // forward: events after it (default 0); backward: before it
  uint64_t limit = 1000;
  bool backward = false;
};

struct LogFilter {
  std::vector<Pattern> streams;  // ORed; empty = any stream (system streams excluded by patterns)
  std::vector<std::string> types;  // ORed; empty = any type
  std::optional<int64_t> since_ms;  // inclusive
  std::optional<int64_t> until_ms;  // exclusive
  // Only events of streams for which this returns true (an access token's read rights); null = all.
  std::function<bool(std::string_view stream)> readable;
};

struct StreamSummary {
  std::string stream;
  uint64_t version = 0;
  std::string root;  // hex
  // AGGREGATE:LIST's state summary
  std::string created_at, updated_at;        // added_at of the first and the last event
  std::optional<uint64_t> snapshot_version;  // the newest stored snapshot
  bool archived = false;
  bool locked = false;  // archived, or its aggregate type is locked
};

struct StreamVerifyReport {
  bool ok = true;
  std::string stream;
  uint64_t version = 0;          // events checked (ok) / stored version
  std::string root;              // recomputed root (ok)
  uint64_t first_bad_version = 0;  // !ok
  std::string reason;            // !ok
};

struct StoreVerifyReport {
  bool ok = true;
  uint64_t events = 0;
  uint64_t streams = 0;
  std::string root;                   // recomputed global root
  std::vector<std::string> bad;       // JSON objects describing each problem
};

// Group-commit statistics (INFO # Stats): how well appends share WAL syncs.
struct CommitStats {
  uint64_t groups = 0;         // WriteBatches written
  uint64_t requests = 0;       // ADD requests that wrote
  uint64_t events = 0;         // events written
  uint64_t write_micros = 0;   // time in DB::Write (incl. the WAL sync)
  uint64_t stage_micros = 0;   // time checking and building groups
};

// RFC 9162 inclusion proof of leaf `leaf_index` (0-based) in the tree of `tree_size` leaves.
struct InclusionProof {
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  Hash root{};
  std::vector<Hash> path;
};

// RFC 9162 consistency proof between the trees of `from` and `to` leaves.
struct ConsistencyProof {
  uint64_t from = 0;
  uint64_t to = 0;
  Hash from_root{};
  Hash to_root{};
  std::vector<Hash> path;
};

struct TreeHead {
  uint64_t tree_size = 0;
  Hash root{};
};

// Controls a whole-store VERIFY: progress reports (phase "events" or "log", events done, events in
// the store) and cancellation (checked between batches; VerifyAll then returns ERR).
struct VerifyControl {
  std::function<void(std::string_view phase, uint64_t done, uint64_t total)> progress;
  const std::atomic<bool>* cancel = nullptr;
};

// An aggregate's state (the fold of its events' data objects) at a version.
struct AggregateState {
  uint64_t version = 0;
  std::vector<std::pair<std::string, std::string>> state;  // field -> latest value, sorted
  Hash root{};                                             // the stream's root at `version`
  std::optional<uint64_t> snapshot_version;                // the snapshot it was built from
  std::vector<std::string> ignored;                        // snapshots that failed their check, why
};

struct SnapshotInfo {
  uint64_t version = 0;
  Hash root{};
  std::string comment;
  std::string created_at;
  std::vector<std::pair<std::string, std::string>> state;
};

struct Checksum {
  std::string last_event_id;  // "" when empty
  std::string root;           // hex
  uint64_t events = 0;
};

class Store {
 public:
  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~Store();  // drains queued appends, stops the committer, closes the DB
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Called exactly once, on the committer thread, with the stored events in request order
  // (the originally stored ones for an idempotent replay) or a failure status.
  using AppendCallback = std::function<void(Status, std::vector<EventRef>)>;
  void Append(AppendRequest request, AppendCallback done);

  Status Read(const ReadRequest& request, std::vector<EventRef>* out);
  // Events with position > after, in position order, matching the filter; at most `limit`.
  Status ReadAll(uint64_t after, uint64_t limit, const LogFilter& filter, std::vector<EventRef>* out);
  // Position of an event id; ERR "no such event id" when unknown.
  Status PositionOfId(std::string_view id, uint64_t* position);
  Status GetById(std::string_view id, EventRef* out);          // *out null when absent
  Status GetByHash(std::string_view hash_hex, EventRef* out);  // *out null when absent
  // `readable` (may be null) hides streams the caller may not read.
  Status ListStreams(const std::optional<Pattern>& pattern, std::string_view after, uint64_t limit,
                     std::vector<StreamSummary>* out, const std::function<bool(std::string_view)>& readable = nullptr);

  // Proofs over a stream's tree (`stream` set; leaf = version) or the global log's (leaf =
  // position), both 1-based; `tree_size` defaults to the current size. O(log n) reads. ERR for an
  // unknown stream ("no such stream") or out-of-range numbers.
  Status ProveInclusion(const std::optional<std::string>& stream, uint64_t leaf, std::optional<uint64_t> tree_size,
                        InclusionProof* out);
  Status ProveConsistency(const std::optional<std::string>& stream, uint64_t from, std::optional<uint64_t> to,
                          ConsistencyProof* out);
  // The current size and root of a stream's tree (ERR "no such stream") or of the log.
  Status GetTreeHead(const std::optional<std::string>& stream, TreeHead* out);

  Status VerifyStream(std::string_view stream, StreamVerifyReport* report);
  // Whole store, streaming in bounded memory; at most 100 problems are listed in report->bad.
  Status VerifyAll(StoreVerifyReport* report, const VerifyControl& control = {});

  // Auth keys and access tokens (token.h), as committed. Changes go through Append (control).
  std::optional<TokenRecord> FindToken(std::string_view id) const;
  std::optional<TokenRecord> FindTokenBySecretHash(std::string_view secret_hash) const;
  std::vector<TokenRecord> ListTokens() const;
  // Increases with every committed control change (revocation, permission update, …); write-budget
  // charges do not change it. Lets connections re-read their identity only when needed.
  uint64_t TokenGeneration() const;

  // AGGREGATE:GET: the state after `version` (default: the latest), from the nearest snapshot at or
  // below it that passes its check (else from the start), folding the events after it.
  // ERR "no such stream" for a stream without events; ERR for a version beyond it.
  Status AggregateAt(std::string_view stream, std::optional<uint64_t> version, AggregateState* out);
  // SNAPSHOT: stores the state at the current version with its root and a comment.
  Status TakeSnapshot(std::string_view stream, std::string_view comment, SnapshotInfo* out);
  // Automatic snapshots are stored before the ADD that made them due is answered, unless their fold
  // is long (store.cc kInlineSnapshotFold): then a background thread stores them. This waits until
  // it has stored every one queued so far (tests, shutdown of tools).
  void WaitForBackgroundSnapshots();
  // AGGREGATE:SNAPSHOTS: the stream's snapshots, oldest first (their states left empty).
  Status ListSnapshots(std::string_view stream, std::vector<SnapshotInfo>* out);

  // The schemas in force, the staged changes and the schema version (schema.h), as committed.
  // Changes go through Append (control).
  std::shared_ptr<const SchemaRegistry> Schemas() const;
  // Whether AGGREGATE:ARCHIVE has archived (and locked) the stream.
  bool IsArchived(std::string_view stream) const;

  uint64_t EventCount() const;
  uint64_t StreamCount() const;
  uint64_t EstimateEventCount() const;
  uint64_t EstimateStreamCount() const;
  Checksum GetChecksum() const;
  CommitStats GetCommitStats() const;
  uint64_t SizeOnDisk() const;

 private:
  explicit Store(std::unique_ptr<StoreImpl> impl);
  std::unique_ptr<StoreImpl> impl_;
};

}  // namespace eventful::storage
