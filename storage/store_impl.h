// Internals of Store (store.h), shared by store.cc (open, committer), store_read.cc and
// store_verify.cc. Not part of the storage API.
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <condition_variable>
#include <memory>
#include <span>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "storage/column_families.h"
#include "storage/event_cache.h"
#include "storage/merkle.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "storage/token.h"
#include "storage/ulid.h"

namespace eventful::storage {

// A stream's committed write state: its numeric id and Merkle frontier (size = version).
struct StreamState {
  uint64_t id = 0;
  Frontier frontier;
};

class StoreImpl;
std::string EncodeStreamState(const StreamState& s);
bool DecodeStreamState(std::string_view in, StreamState* out);
std::string EventKey(uint64_t stream_id, uint64_t version);  // also the value of log/ids/hashes
std::string MerkleKey(uint64_t tree, int level, uint64_t index);
// The root of a stream's first `size` events, from its stored nodes in O(log n) (store_proof.cc).
Status StreamRootAt(StoreImpl& impl, uint64_t stream_id, uint64_t size, Hash* out);
// Maps a RocksDB failure to our Status, naming corruption explicitly.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

// The events of the store in key order (stream id, version), wherever they are kept: the events
// and the archive column families merged, read at one snapshot (an archival move between the two
// iterators could otherwise show an event twice or not at all). Keys never repeat across the two
// (a move deletes in one and puts in the other in one write). One direction per seek.
class EventsIterator {
 public:
  EventsIterator(rocksdb::DB* db, rocksdb::ReadOptions ro, rocksdb::ColumnFamilyHandle* events,
                 rocksdb::ColumnFamilyHandle* archive);
  ~EventsIterator();
  EventsIterator(const EventsIterator&) = delete;
  EventsIterator& operator=(const EventsIterator&) = delete;

  void Seek(const rocksdb::Slice& key);
  void SeekForPrev(const rocksdb::Slice& key);
  void SeekToFirst();
  void Next();
  void Prev();
  bool Valid() const { return current_ != nullptr; }
  rocksdb::Slice key() const { return current_->key(); }
  rocksdb::Slice value() const { return current_->value(); }
  rocksdb::Status status() const;

 private:
  void Pick();
  rocksdb::DB* db_;
  const rocksdb::Snapshot* own_snapshot_ = nullptr;
  std::unique_ptr<rocksdb::Iterator> a_, b_;
  rocksdb::Iterator* current_ = nullptr;
  bool forward_ = true;
};

// A stream's events (from, to] read in pages (GET): the cache, then both column families.
Status ReadStreamEvents(StoreImpl& impl, const ReadRequest& request, std::vector<EventRef>* out);
// AGGREGATE:GET (store_aggregate.cc), and the snapshot the committer takes after an ADD that crosses
// a multiple of the schema's snapshot_threshold.
Status ComputeAggregate(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, AggregateState* out);
Status StoreSnapshot(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, std::string_view comment,
                     SnapshotInfo* out);
// The snapshot record StoreSnapshot writes (key, value), without writing it.
Status BuildSnapshot(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, std::string_view comment,
                     SnapshotInfo* out, std::string* key, std::string* value);
// The version of the newest stored snapshot of a stream at or below `version` (0 = none), unchecked.
uint64_t NearestSnapshotVersion(StoreImpl& impl, uint64_t stream_id, uint64_t version);

class StoreImpl {
 public:
  explicit StoreImpl(const StoreOptions& options) : options_(options), cache_(options.cache_events) {}
  ~StoreImpl();

  Status Open();
  void Append(AppendRequest request, Store::AppendCallback done);

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[static_cast<size_t>(c)]; }
  rocksdb::DB* db() const { return db_.get(); }

  // Committed state of a stream, or nullopt if it has no events. Reads the committed map, then
  // RocksDB. Safe from any thread.
  Status LookupStream(std::string_view name, std::optional<StreamState>* out);
  // The event stored under (stream id, version): cache, then RocksDB. Null when absent.
  Status LoadEvent(uint64_t stream_id, uint64_t version, EventRef* out);

  const StoreOptions options_;
  EventCache cache_;

  // Published (committed) state; guarded by state_mu_.
  mutable std::shared_mutex state_mu_;
  std::unordered_map<std::string, StreamState> streams_;  // write-through cache of the streams CF
  Frontier log_;                                          // global log frontier
  uint64_t stream_count_ = 0;
  uint64_t next_stream_id_ = 1;
  int64_t last_added_at_ = 0;
  std::string last_event_id_;
  CommitStats stats_;  // guarded by state_mu_
  TokenTable tokens_;  // guarded by state_mu_ (written only by the committer)
  uint64_t token_generation_ = 0;  // guarded by state_mu_; bumps with every control change
  // Schemas (live, staged, version): replaced, never changed in place; guarded by state_mu_
  // (written only by the committer, which may read them without the lock).
  std::shared_ptr<const SchemaRegistry> schemas_ = std::make_shared<SchemaRegistry>();
  std::unordered_set<std::string> archived_;  // archived (locked) streams; like schemas_

 private:
  struct Job {
    AppendRequest request;
    Store::AppendCallback done;
  };
  struct Group;  // one group commit's staging area (store.cc)

  void CommitterLoop();
  void CommitGroup(std::span<Job> jobs);
  Status StageArchive(Group& group, const AppendRequest& req, EventInput* audit);
  bool Archived(const Group& group, const std::string& stream) const;
  void TakeAutoSnapshots(const std::vector<std::pair<std::string, uint64_t>>& due);
  void SnapshotterLoop();

 public:
  void WaitForBackgroundSnapshots();

 private:
  Status StageJob(Group& group, const AppendRequest& req, std::vector<EventRef>* events, bool* wrote);
  Status CheckReplay(Group& group, const AppendRequest& req, bool* replay, std::vector<EventRef>* events);
  Status StreamFor(Group& group, std::string_view name, StreamState** out);
  Status FindId(Group& group, std::string_view id, bool* found, EventRef* event);

  std::unique_ptr<rocksdb::Env> env_;  // the encrypted Env; outlives db_ (declared first)
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, static_cast<size_t>(Cf::kCount)> handles_{};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Job> queue_;  // guarded by queue_mu_
  bool stopping_ = false;   // guarded by queue_mu_
  std::unordered_set<uint64_t> awaited_;  // guarded by queue_mu_: clients of the last group not back yet
  std::thread committer_;
  // Automatic snapshots whose fold is too long for the committer (store.cc TakeAutoSnapshots).
  std::mutex snapshot_mu_;
  std::condition_variable snapshot_cv_;
  std::vector<std::pair<std::string, uint64_t>> snapshot_queue_;  // guarded by snapshot_mu_
  bool snapshot_stopping_ = false;                                  // guarded by snapshot_mu_
  bool snapshot_busy_ = false;                                      // guarded by snapshot_mu_
  std::thread snapshotter_;
  UlidGenerator ulids_;     // committer thread only
};

}  // namespace eventful::storage
