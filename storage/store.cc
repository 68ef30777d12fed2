// Store: opening RocksDB and the group-commit writer. Reads are in store_read.cc, VERIFY in
// store_verify.cc. The key and value layouts are in column_families.h and docs/storage.md.
#include "storage/store.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "storage/clock.h"
#include "storage/codec.h"
#include "storage/event.h"
#include "storage/json_text.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

constexpr size_t kMaxCachedStreams = 1'000'000;

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

std::string HashBytes(const Hash& h) { return std::string(reinterpret_cast<const char*>(h.data()), h.size()); }

}  // namespace

std::string EventKey(uint64_t stream_id, uint64_t version) {
  std::string k;
  k.reserve(16);
  PutU64BE(&k, stream_id);
  PutU64BE(&k, version);
  return k;
}

std::string MerkleKey(uint64_t tree, int level, uint64_t index) {
  std::string k;
  k.reserve(17);
  PutU64BE(&k, tree);
  k.push_back(static_cast<char>(level));
  PutU64BE(&k, index);
  return k;
}

std::string EncodeStreamState(const StreamState& s) {
  std::string out;
  PutU64BE(&out, s.id);
  out += s.frontier.Encode();
  return out;
}

bool DecodeStreamState(std::string_view in, StreamState* out) {
  if (in.size() < 8) return false;
  out->id = GetU64BE(in);
  return Frontier::Decode(in.substr(8), &out->frontier);
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Err("storage corruption while " + std::string(what) + ": " + s.ToString());
  return Status::Err("storage error while " + std::string(what) + ": " + s.ToString());
}

// ---------------------------------------------------------------------------------------------
// Open / close

Status StoreImpl::Open() {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.paranoid_checks = true;
  db_options.info_log = NewErrorOnlyLogger();
  if (options_.encryption_key) {
    // A store written without encryption would trip RocksDB's EncryptedEnv (its files are shorter
    // than our prefix): recognise it first by its CURRENT file.
    if (!IsEncryptedFile(options_.path + "/CURRENT")) {
      return Status::Err("the store at " + options_.path + " is not encrypted (written by a pre-release build, "
                         "before encryption at rest): re-create it");
    }
    env_ = NewEncryptedEnv(*options_.encryption_key);
    db_options.env = env_.get();
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(64u << 20);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  // Archived events: heavier compression and larger blocks (read rarely, kept long).
  rocksdb::BlockBasedTableOptions archive_table = table;
  archive_table.block_size = 64u << 10;
  rocksdb::ColumnFamilyOptions archive_options;
  archive_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(archive_table));
  archive_options.compression = rocksdb::kZSTD;
  archive_options.bottommost_compression = rocksdb::kZSTD;
  archive_options.compression_opts.level = 9;
  archive_options.bottommost_compression_opts.level = 9;
  archive_options.bottommost_compression_opts.enabled = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::string_view name : kCfNames) {
    descriptors.emplace_back(std::string(name), name == kCfNames[static_cast<size_t>(Cf::kArchive)] ? archive_options
                                                                                                    : cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  std::error_code dir_error;  // RocksDB would log an error for a store directory it has to create
  std::filesystem::create_directories(options_.path, dir_error);
  rocksdb::Status s = rocksdb::DB::Open(db_options, options_.path, descriptors, &handles, &raw);
  if (!s.ok() && s.ToString().find("wrong data encryption key") != std::string::npos) {
    return Status::Err("wrong data encryption key (the store's files do not open with it)");
  }
  if (!s.ok() && s.ToString().find("not encrypted by EventfulDB") != std::string::npos) {
    return Status::Err("the store at " + options_.path + " is not encrypted (written by a pre-release build, "
                       "before encryption at rest): re-create it");
  }
  if (!s.ok()) return FromRocks(s, "opening " + options_.path);
  db_.reset(raw);
  std::copy(handles.begin(), handles.end(), handles_.begin());

  // Format version: written into a new store, checked in an existing one.
  std::string value;
  s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), S(kMetaFormatVersion), &value);
  if (s.IsNotFound()) {
    rocksdb::WriteBatch batch;
    (void)batch.Put(cf(Cf::kMeta), S(kMetaFormatVersion), U64Key(kFormatVersion));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status st = FromRocks(db_->Write(wo, &batch), "initialising the store");
    if (!st.ok()) return st;
  } else if (!s.ok()) {
    return FromRocks(s, "reading the format version");
  } else {
    if (value.size() != 8) return Status::Err("storage corruption: bad format_version record");
    uint64_t version = GetU64BE(value);
    if (version > kFormatVersion) {
      return Status::Err("the data directory has on-disk format version " + std::to_string(version) +
                         ", newer than this binary supports (" + std::to_string(kFormatVersion) +
                         "); upgrade eventful");
    }
    if (version < kFormatVersion) {
      // Format 1 existed only in pre-release builds (its log entries lack the leaf hash).
      return Status::Err("the data directory has on-disk format version " + std::to_string(version) +
                         " from a pre-release build, which this binary cannot read; re-create it");
    }
  }

  auto read_u64 = [&](std::string_view key, uint64_t* out) -> Status {
    std::string v;
    rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), S(key), &v);
    if (rs.IsNotFound()) return Status::Ok();
    if (!rs.ok()) return FromRocks(rs, "reading meta");
    if (v.size() != 8) return Status::Err("storage corruption: bad meta record " + std::string(key));
    *out = GetU64BE(v);
    return Status::Ok();
  };
  std::string frontier;
  s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), S(kMetaLogFrontier), &frontier);
  if (s.ok()) {
    if (!Frontier::Decode(frontier, &log_)) return Status::Err("storage corruption: bad log frontier record");
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading the log frontier");
  }
  uint64_t last_added = 0;
  Status st = read_u64(kMetaStreamCount, &stream_count_);
  if (st.ok()) st = read_u64(kMetaNextStreamId, &next_stream_id_);
  if (st.ok()) st = read_u64(kMetaLastAddedAt, &last_added);
  if (!st.ok()) return st;
  last_added_at_ = static_cast<int64_t>(last_added);
  s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kMeta), S(kMetaLastEventId), &last_event_id_);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading meta");
  if (next_stream_id_ == 0) next_stream_id_ = 1;

  std::unique_ptr<rocksdb::Iterator> tokens(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kTokens)));
  for (tokens->SeekToFirst(); tokens->Valid(); tokens->Next()) {
    TokenRecord t;
    if (!DecodeToken(std::string_view(tokens->value().data(), tokens->value().size()), &t) || t.id != tokens->key().ToString()) {
      return Status::Err("storage corruption: bad token record '" + tokens->key().ToString() + "'");
    }
    tokens_.Put(t);
  }
  if (!tokens->status().ok()) return FromRocks(tokens->status(), "reading the token records");

  auto registry = std::make_shared<SchemaRegistry>();
  std::unique_ptr<rocksdb::Iterator> schemas(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kSchemas)));
  for (schemas->SeekToFirst(); schemas->Valid(); schemas->Next()) {
    const std::string key = schemas->key().ToString();
    const std::string_view value(schemas->value().data(), schemas->value().size());
    if (key == kSchemaVersionKey) {
      if (value.size() != 8) return Status::Err("storage corruption: bad schema version record");
      registry->version = GetU64BE(value);
    } else if (key == kSchemaPendingKey) {
      if (Status ps = DecodeStagedChanges(value, &registry->pending); !ps.ok()) {
        return Status::Err("storage corruption: bad staged schema changes: " + ps.message());
      }
    } else {
      Schema schema;
      if (Status ps = ParseSchemaJson(value, &schema); !ps.ok() || schema.aggregate != key) {
        return Status::Err("storage corruption: bad schema record '" + key + "'");
      }
      registry->live.emplace(key, std::move(schema));
    }
  }
  if (!schemas->status().ok()) return FromRocks(schemas->status(), "reading the schemas");
  schemas_ = std::move(registry);
  std::unique_ptr<rocksdb::Iterator> archived(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kArchived)));
  for (archived->SeekToFirst(); archived->Valid(); archived->Next()) archived_.insert(archived->key().ToString());
  if (!archived->status().ok()) return FromRocks(archived->status(), "reading the archived streams");

  committer_ = std::thread([this] { CommitterLoop(); });
  snapshotter_ = std::thread([this] { SnapshotterLoop(); });
  return Status::Ok();
}

StoreImpl::~StoreImpl() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_stopping_ = true;  // queued snapshots are dropped: they are a cache
  }
  snapshot_cv_.notify_all();
  if (snapshotter_.joinable()) snapshotter_.join();
  if (db_) {
    for (auto* h : handles_) {
      if (h) (void)db_->DestroyColumnFamilyHandle(h);
    }
    (void)db_->Close();
  }
}

// ---------------------------------------------------------------------------------------------
// Lookups shared by the committer and the readers

Status StoreImpl::LookupStream(std::string_view name, std::optional<StreamState>* out) {
  {
    std::shared_lock lock(state_mu_);
    auto it = streams_.find(std::string(name));
    if (it != streams_.end()) {
      *out = it->second;
      return Status::Ok();
    }
  }
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kStreams), S(name), &value);
  if (s.IsNotFound()) {
    out->reset();
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading stream '" + std::string(name) + "'");
  StreamState state;
  if (!DecodeStreamState(value, &state)) {
    return Status::Err("storage corruption: bad record for stream '" + std::string(name) + "'");
  }
  *out = std::move(state);
  return Status::Ok();
}

Status StoreImpl::LoadEvent(uint64_t stream_id, uint64_t version, EventRef* out) {
  if (auto hit = cache_.Find(stream_id, version)) {
    *out = std::move(hit);
    return Status::Ok();
  }
  std::string value;
  const std::string key = EventKey(stream_id, version);
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kEvents), S(key), &value);
  if (s.IsNotFound()) {
    // Archived, or moved back meanwhile: look in both column families at one snapshot.
    rocksdb::ReadOptions ro;
    ro.snapshot = db_->GetSnapshot();
    s = db_->Get(ro, cf(Cf::kArchive), S(key), &value);
    if (s.IsNotFound()) s = db_->Get(ro, cf(Cf::kEvents), S(key), &value);
    db_->ReleaseSnapshot(ro.snapshot);
  }
  if (s.IsNotFound()) {
    out->reset();
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading an event");
  *out = std::make_shared<const std::string>(std::move(value));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The committer

struct StoreImpl::Group {
  explicit Group(const TokenTable& committed) : tokens(committed, nullptr) {}
  rocksdb::WriteBatch batch;
  StagedTokens tokens;        // token changes of the group's accepted requests
  bool control = false;       // a control change is in the group
  std::unordered_map<std::string, StreamState> streams;  // staged state of touched streams
  std::unordered_map<std::string, EventRef> ids;         // event ids staged in this group
  Frontier log;
  uint64_t stream_count = 0;
  uint64_t next_stream_id = 1;
  int64_t last_added_at = 0;
  std::string last_event_id;
  struct CacheEntry {
    uint64_t stream_id;
    uint64_t version;
    EventRef event;
  };
  std::vector<CacheEntry> cache_inserts;
  std::shared_ptr<const SchemaRegistry> schemas;  // staged schemas
  bool schemas_changed = false;
  std::unordered_map<std::string, bool> archived;  // staged archived flags (true = archived)
  std::vector<std::pair<std::string, uint64_t>> auto_snapshots;  // (stream, version) due
};

void StoreImpl::Append(AppendRequest request, Store::AppendCallback done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      awaited_.erase(request.client);
      queue_.push_back(Job{std::move(request), std::move(done)});
      queue_cv_.notify_all();
      return;
    }
  }
  done(Status::Err("server is shutting down"), {});
}

// Adaptive group-commit delay (like PostgreSQL's commit_delay): clients whose appends shared the
// last WAL sync come back at slightly different moments once they have their replies. Without a
// delay the clients split into two cohorts that alternate, each sync half full. So before taking a
// group, the committer waits (at most kCommitDelay, 1 ms) until every client of the previous group has
// queued its next append. A lone client never waits: its next append is what woke the committer.
constexpr auto kCommitDelay = std::chrono::microseconds(1000);

void StoreImpl::CommitterLoop() {
  std::vector<Job> jobs;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      if (options_.sync && !awaited_.empty()) {
        queue_cv_.wait_for(lock, kCommitDelay, [&] { return awaited_.empty() || stopping_; });
      }
      jobs.swap(queue_);
      awaited_.clear();
      if (options_.sync) {
        for (const auto& job : jobs) awaited_.insert(job.request.client);
      }
    }
    // An archival request runs alone in its group: it moves committed events, so it must not share
    // a group with ADDs to the same streams.
    for (size_t i = 0; i < jobs.size();) {
      size_t j = i + 1;
      if (!jobs[i].request.archive) {
        while (j < jobs.size() && !jobs[j].request.archive) ++j;
      }
      CommitGroup(std::span<Job>(jobs).subspan(i, j - i));
      i = j;
    }
    jobs.clear();
  }
}

Status StoreImpl::StreamFor(Group& group, std::string_view name, StreamState** out) {
  auto it = group.streams.find(std::string(name));
  if (it == group.streams.end()) {
    std::optional<StreamState> committed;
    Status s = LookupStream(name, &committed);
    if (!s.ok()) return s;
    it = group.streams.emplace(std::string(name), committed.value_or(StreamState{})).first;
  }
  *out = &it->second;
  return Status::Ok();
}

Status StoreImpl::FindId(Group& group, std::string_view id, bool* found, EventRef* event) {
  auto it = group.ids.find(std::string(id));
  if (it != group.ids.end()) {
    *found = true;
    *event = it->second;
    return Status::Ok();
  }
  std::string key;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(Cf::kIds), S(id), &key);
  if (s.IsNotFound()) {
    *found = false;
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading the id index");
  if (key.size() != 16) return Status::Err("storage corruption: bad id index entry for '" + std::string(id) + "'");
  *found = true;
  Status st = LoadEvent(GetU64BE(key), GetU64BE(std::string_view(key).substr(8)), event);
  if (st.ok() && !*event) return Status::Err("storage corruption: id index names a missing event");
  return st;
}

// Idempotency (PROTOCOL.md §6 ADD, §8): decided before the expected-version checks.
Status StoreImpl::CheckReplay(Group& group, const AppendRequest& req, bool* replay, std::vector<EventRef>* events) {
  *replay = false;
  std::unordered_set<std::string_view> seen;
  size_t total = 0, with_id = 0, found_count = 0;
  std::vector<EventRef> stored;
  std::string first_found;
  for (const auto& sa : req.streams) {
    for (const auto& ev : sa.events) {
      ++total;
      if (!ev.id) continue;
      ++with_id;
      if (!seen.insert(*ev.id).second) return Status::Conflict("event id '" + *ev.id + "' appears twice in the request");
      bool found = false;
      EventRef ref;
      Status s = FindId(group, *ev.id, &found, &ref);
      if (!s.ok()) return s;
      if (found) {
        if (found_count++ == 0) first_found = *ev.id;
        stored.push_back(std::move(ref));
      }
    }
  }
  if (found_count == 0) return Status::Ok();
  if (with_id != total || found_count != total) {
    return Status::Conflict("event id '" + first_found + "' already exists");
  }
  // Every id exists: an exact replay returns the stored events, anything else conflicts.
  size_t i = 0;
  uint64_t prev_position = 0;
  for (const auto& sa : req.streams) {
    for (const auto& ev : sa.events) {
      Event e;
      std::string why;
      if (!ParseEventJson(*stored[i], &e, &why)) return Status::Err("storage corruption: stored event unreadable: " + why);
      const std::string causation = ev.causation_id.value_or(*ev.id);
      const std::string correlation = ev.correlation_id.value_or(causation);
      if (e.stream != sa.stream || e.type != ev.type || !(e.data == ev.data) || !(e.metadata == ev.metadata) ||
          e.causation_id != causation || e.correlation_id != correlation) {
        return Status::Conflict("event id '" + *ev.id + "' already exists with other content");
      }
      if (i > 0 && e.position != prev_position + 1) {
        return Status::Conflict("event id '" + *ev.id + "' already exists at another place in the log");
      }
      prev_position = e.position;
      ++i;
    }
  }
  *replay = true;
  *events = std::move(stored);
  return Status::Ok();
}

Status StoreImpl::StageJob(Group& group, const AppendRequest& original, std::vector<EventRef>* out, bool* wrote) {
  *wrote = false;
  StagedTokens tokens(tokens_, &group.tokens);
  tokens.now_ms = std::max(NowMs(), group.last_added_at);
  // A control change or an archival move first: it decides the $audit event that joins the
  // request's events.
  AppendRequest with_audit;
  EventInput audit;
  std::optional<SchemaRegistry> schemas;  // a control's copy of the staged schemas
  bool schemas_changed = false;
  if (original.control) {
    schemas.emplace(*group.schemas);
    ControlContext ctx{tokens, *schemas};
    Status cs = original.control(ctx, &audit);
    if (!cs.ok()) return cs;
    schemas_changed = ctx.schemas_changed;
  }
  if (original.archive) {
    if (Status as = StageArchive(group, original, &audit); !as.ok()) return as;
  }
  const bool audited = !audit.type.empty();
  if (audited) {
    with_audit.streams = original.streams;
    with_audit.actor = original.actor;
    with_audit.charge_token = original.charge_token;
    with_audit.streams.push_back(StreamAppend{"$audit", {}, {std::move(audit)}});
  }
  const AppendRequest& req = audited ? with_audit : original;
  bool replay = false;
  Status s = CheckReplay(group, req, &replay, out);
  if (!s.ok() || replay) return s;

  // Archived streams are locked; schemas (the live ones, as staged) check every event.
  for (const auto& sa : req.streams) {
    if (!IsSystemStream(sa.stream) && Archived(group, sa.stream)) {
      return Status::Locked("stream '" + sa.stream + "' is archived");
    }
  }
  for (const auto& sa : req.streams) {
    if (s = ValidateAgainstSchemas(group.schemas->live, options_.strict_schemas, sa); !s.ok()) return s;
  }
  // A control change that changed nothing (SCHEMA:MIGRATE apply with nothing staged) writes nothing.
  if (original.control && !audited && !schemas_changed && tokens.changes().empty() && req.streams.empty()) {
    return Status::Ok();
  }

  // Expected versions, against the committed state plus earlier jobs of this group.
  std::vector<StreamState*> states;
  std::vector<uint64_t> before;  // each stream's version before this request
  for (const auto& sa : req.streams) {
    StreamState* st = nullptr;
    s = StreamFor(group, sa.stream, &st);
    if (!s.ok()) return s;
    const uint64_t current = st->frontier.size;
    before.push_back(current);
    if (sa.expected.kind == ExpectedVersion::Kind::kExact && sa.expected.version != current) {
      return Status::Conflict("expected version " + std::to_string(sa.expected.version) + " but stream '" +
                              sa.stream + "' is at version " + std::to_string(current));
    }
    if (sa.expected.kind == ExpectedVersion::Kind::kExists && current == 0) {
      return Status::Conflict("expected version exists but stream '" + sa.stream + "' is at version 0");
    }
    states.push_back(st);
  }

  // The write budget of the access token that writes, checked and counted in this same write.
  if (!req.charge_token.empty()) {
    std::optional<TokenRecord> t = tokens.Find(req.charge_token);
    if (!t || t->revoked) return Status::NoAuth("token revoked");
    if (t->Expired(tokens.now_ms)) return Status::NoAuth("token expired");
    uint64_t n = 0;
    for (const auto& sa : req.streams) n += sa.events.size();
    if (t->writes_used + n > t->limit) {
      return Status::Limit("write budget exceeded: " + std::to_string(t->writes_used) + " of " + std::to_string(t->limit) +
                           " writes used, this ADD has " + std::to_string(n));
    }
    t->writes_used += n;
    tokens.Put(std::move(*t));
  }

  // Build every event (ids, versions, positions, hashes) before changing anything.
  const int64_t added_ms = std::max(NowMs(), group.last_added_at);
  const std::string added_at = FormatRfc3339Ms(added_ms);
  struct Built {
    size_t stream_index;
    Event event;
    Hash leaf;
    EventRef json;
  };
  std::vector<Built> built;
  uint64_t position = group.log.size;
  for (size_t si = 0; si < req.streams.size(); ++si) {
    const auto& sa = req.streams[si];
    uint64_t version = states[si]->frontier.size;
    for (const auto& in : sa.events) {
      Built b;
      b.stream_index = si;
      // Server ids need no index lookup: 80 random bits per millisecond (incremented, never
      // repeated, within one) cannot collide with a stored id except by guessing them.
      b.event = MakeEvent(in, in.id ? *in.id : ulids_.Next(added_ms), sa.stream, ++version, ++position, added_at,
                          req.actor);
      Event& e = b.event;
      const std::string canonical = CanonicalJson(e);
      if (canonical.size() > options_.max_event_bytes) {
        return Status::Limit("event " + std::to_string(built.size() + 1) + " is " + std::to_string(canonical.size()) +
                             " bytes as canonical JSON, over the limit of " +
                             std::to_string(options_.max_event_bytes));
      }
      b.leaf = LeafHash(canonical);
      e.hash = ToHex(b.leaf);
      b.json = std::make_shared<const std::string>(EventJson(e));
      built.push_back(std::move(b));
    }
  }

  // Apply: all effects of this request go into the group's WriteBatch.
  auto& batch = group.batch;
  for (auto& b : built) {
    StreamState* st = states[b.stream_index];
    if (st->id == 0) {
      st->id = group.next_stream_id++;
      ++group.stream_count;
    }
    const std::string key = EventKey(st->id, b.event.version);
    (void)batch.Put(cf(Cf::kEvents), key, *b.json);
    (void)batch.Put(cf(Cf::kLog), U64Key(b.event.position), key + HashBytes(b.leaf));
    (void)batch.Put(cf(Cf::kIds), b.event.id, key);
    (void)batch.Put(cf(Cf::kHashes), HashBytes(b.leaf), key);
    const uint64_t tree = st->id;
    st->frontier.Append(b.leaf, [&](int level, uint64_t index, const Hash& node) {
      if (level >= kMinStoredMerkleLevel) (void)batch.Put(cf(Cf::kMerkle), MerkleKey(tree, level, index), HashBytes(node));
    });
    group.log.Append(b.leaf, [&](int level, uint64_t index, const Hash& node) {
      if (level >= kMinStoredMerkleLevel) (void)batch.Put(cf(Cf::kMerkle), MerkleKey(kLogTreeId, level, index), HashBytes(node));
    });
    group.ids.emplace(b.event.id, b.json);
    group.cache_inserts.push_back({st->id, b.event.version, b.json});
    out->push_back(b.json);
  }
  for (size_t si = 0; si < req.streams.size(); ++si) {
    (void)batch.Put(cf(Cf::kStreams), req.streams[si].stream, EncodeStreamState(*states[si]));
    // Automatic snapshot when this ADD crosses a multiple of the schema's snapshot_threshold.
    const std::string& name = req.streams[si].stream;
    if (IsSystemStream(name)) continue;
    auto schema = group.schemas->live.find(std::string(Category(name)));
    if (schema == group.schemas->live.end() || schema->second.snapshot_threshold == 0) continue;
    const uint64_t n = schema->second.snapshot_threshold, after = states[si]->frontier.size;
    if (after / n > before[si] / n) group.auto_snapshots.emplace_back(name, after);
  }
  for (auto& [id, t] : tokens.mutable_changes()) {
    (void)batch.Put(cf(Cf::kTokens), id, EncodeToken(t));
    group.tokens.Put(std::move(t));
  }
  if (schemas_changed) {
    const SchemaRegistry& old = *group.schemas;
    for (const auto& [name, schema] : old.live) {
      if (!schemas->live.count(name)) (void)batch.Delete(cf(Cf::kSchemas), name);
    }
    for (const auto& [name, schema] : schemas->live) {
      auto prev = old.live.find(name);
      if (prev == old.live.end() || !(prev->second == schema)) (void)batch.Put(cf(Cf::kSchemas), name, SchemaJson(schema));
    }
    (void)batch.Put(cf(Cf::kSchemas), S(kSchemaPendingKey), EncodeStagedChanges(schemas->pending));
    (void)batch.Put(cf(Cf::kSchemas), S(kSchemaVersionKey), U64Key(schemas->version));
    group.schemas = std::make_shared<const SchemaRegistry>(std::move(*schemas));
    group.schemas_changed = true;
  }
  group.control = group.control || static_cast<bool>(original.control) || original.archive.has_value();
  group.last_added_at = added_ms;
  if (!built.empty()) group.last_event_id = built.back().event.id;
  *wrote = true;
  return Status::Ok();
}

void StoreImpl::CommitGroup(std::span<Job> jobs) {
  const auto t0 = std::chrono::steady_clock::now();
  Group group(tokens_);
  {
    std::shared_lock lock(state_mu_);
    group.log = log_;
    group.stream_count = stream_count_;
    group.next_stream_id = next_stream_id_;
    group.last_added_at = last_added_at_;
    group.last_event_id = last_event_id_;
    group.schemas = schemas_;
  }
  std::vector<std::pair<Status, std::vector<EventRef>>> results(jobs.size());
  std::vector<bool> writes(jobs.size(), false);
  bool any_write = false;
  for (size_t i = 0; i < jobs.size(); ++i) {
    bool wrote = false;
    results[i].first = StageJob(group, jobs[i].request, &results[i].second, &wrote);
    if (!results[i].first.ok()) results[i].second.clear();
    writes[i] = wrote;
    any_write = any_write || wrote;
  }

  const auto t1 = std::chrono::steady_clock::now();
  if (any_write) {
    auto& batch = group.batch;
    (void)batch.Put(cf(Cf::kMeta), S(kMetaLogFrontier), group.log.Encode());
    (void)batch.Put(cf(Cf::kMeta), S(kMetaStreamCount), U64Key(group.stream_count));
    (void)batch.Put(cf(Cf::kMeta), S(kMetaNextStreamId), U64Key(group.next_stream_id));
    (void)batch.Put(cf(Cf::kMeta), S(kMetaLastAddedAt), U64Key(static_cast<uint64_t>(group.last_added_at)));
    (void)batch.Put(cf(Cf::kMeta), S(kMetaLastEventId), group.last_event_id);
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    Status s = FromRocks(db_->Write(wo, &batch), "writing events");
    const auto t2 = std::chrono::steady_clock::now();
    if (!s.ok()) {
      for (size_t i = 0; i < jobs.size(); ++i) {
        if (writes[i]) results[i] = {s, {}};
      }
    } else {
      std::unique_lock lock(state_mu_);
      if (streams_.size() + group.streams.size() > kMaxCachedStreams) streams_.clear();
      for (auto& [name, state] : group.streams) {
        if (state.frontier.size > 0) streams_.insert_or_assign(name, std::move(state));
      }
      log_ = group.log;
      stream_count_ = group.stream_count;
      next_stream_id_ = group.next_stream_id;
      last_added_at_ = group.last_added_at;
      last_event_id_ = group.last_event_id;
      for (const auto& [id, t] : group.tokens.changes()) tokens_.Put(t);
      if (group.schemas_changed) schemas_ = group.schemas;
      for (const auto& [stream, archived] : group.archived) {
        if (archived) {
          archived_.insert(stream);
        } else {
          archived_.erase(stream);
        }
      }
      if (group.control) ++token_generation_;
      stats_.groups += 1;
      stats_.events += group.cache_inserts.size();
      for (bool w : writes) stats_.requests += w ? 1 : 0;
      stats_.stage_micros += std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
      stats_.write_micros += std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1).count();
    }
    if (s.ok()) {
      for (auto& c : group.cache_inserts) cache_.Insert(c.stream_id, c.version, std::move(c.event));
      TakeAutoSnapshots(group.auto_snapshots);
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].done(std::move(results[i].first), std::move(results[i].second));
}

// ---------------------------------------------------------------------------------------------
// Archival and automatic snapshots

bool StoreImpl::Archived(const Group& group, const std::string& stream) const {
  auto it = group.archived.find(stream);
  if (it != group.archived.end()) return it->second;
  return archived_.count(stream) > 0;  // the committer is its only writer
}

Status StoreImpl::StageArchive(Group& group, const AppendRequest& req, EventInput* audit) {
  const ArchiveOp& op = *req.archive;
  ArchiveResult result;
  auto& batch = group.batch;
  // Moves every event whose key starts with `prefix` (every event when empty) from one column
  // family to the other. The committer is the only writer, so what it reads here is what the write
  // will change.
  auto move = [&](Cf from, Cf to, std::string_view prefix) -> Status {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(from)));
    uint64_t last_stream = 0;
    if (prefix.empty()) {
      it->SeekToFirst();
    } else {
      it->Seek(S(prefix));
    }
    for (; it->Valid() && it->key().starts_with(S(prefix)); it->Next()) {
      if (it->key().size() != 16) return Status::Err("storage corruption: an events key is malformed");
      (void)batch.Put(cf(to), it->key(), it->value());
      (void)batch.Delete(cf(from), it->key());
      const uint64_t stream_id = GetU64BE(std::string_view(it->key().data(), 8));
      if (result.moved++ == 0 || stream_id != last_stream) ++result.streams;
      last_stream = stream_id;
    }
    return FromRocks(it->status(), "moving events");
  };
  StreamState* st = nullptr;
  if (!op.all) {
    if (Status s = StreamFor(group, op.stream, &st); !s.ok()) return s;
    if (st->frontier.size == 0) return Status::Err("no such stream");
    result.version = st->frontier.size;
  }
  auto describe = [&](std::string type, bool with_comment) {
    audit->type = std::move(type);
    std::vector<std::pair<std::string, std::optional<std::string>>> fields;
    if (op.all) fields.emplace_back("all", "true");
    if (with_comment) fields.emplace_back("comment", op.comment);
    fields.emplace_back("moved", std::to_string(result.moved));
    if (!op.all) fields.emplace_back("stream", op.stream);
    fields.emplace_back("streams", std::to_string(result.streams));
    if (!op.all) fields.emplace_back("version", std::to_string(result.version));
    std::sort(fields.begin(), fields.end());
    audit->data = Payload{};
    audit->data.fields = std::move(fields);
  };
  Status s;
  switch (op.kind) {
    case ArchiveOp::Kind::kArchive: {
      if (Archived(group, op.stream)) return Status::Err("stream '" + op.stream + "' is already archived");
      if (s = move(Cf::kEvents, Cf::kArchive, U64Key(st->id)); !s.ok()) return s;
      std::string record = "{\"archived_at\":\"" + FormatRfc3339Ms(NowMs()) + "\",\"comment\":";
      AppendJsonString(&record, op.comment);
      record += ",\"version\":" + std::to_string(result.version) + "}";
      (void)batch.Put(cf(Cf::kArchived), op.stream, record);
      group.archived[op.stream] = true;
      describe("aggregate-archived", true);
      break;
    }
    case ArchiveOp::Kind::kRestore: {
      const bool archived = Archived(group, op.stream);
      if (s = move(Cf::kArchive, Cf::kEvents, U64Key(st->id)); !s.ok()) return s;
      if (!archived && result.moved == 0) return Status::Err("stream '" + op.stream + "' is not archived");
      (void)batch.Delete(cf(Cf::kArchived), op.stream);
      group.archived[op.stream] = false;
      describe("aggregate-restored", true);
      break;
    }
    case ArchiveOp::Kind::kEvents:
      if (s = move(Cf::kEvents, Cf::kArchive, op.all ? std::string() : U64Key(st->id)); !s.ok()) return s;
      describe("events-archived", false);
      break;
  }
  if (req.archive_result) *req.archive_result = result;
  return Status::Ok();
}

// A snapshot is stored by the committer, before the ADD that made it due is answered, when it folds
// at most this many events past the previous snapshot (well under a millisecond or two of work);
// otherwise — a threshold set on a long stream, a threshold over this, a damaged snapshot — the
// background snapshotter stores it shortly after, so that no write waits for a long fold.
constexpr uint64_t kInlineSnapshotFold = 1000;

void StoreImpl::TakeAutoSnapshots(const std::vector<std::pair<std::string, uint64_t>>& due) {
  if (due.empty()) return;
  rocksdb::WriteBatch batch;
  std::vector<std::pair<std::string, uint64_t>> later;
  for (const auto& [stream, version] : due) {
    std::optional<StreamState> st;
    Status s = LookupStream(stream, &st);
    if (s.ok() && st && version - NearestSnapshotVersion(*this, st->id, version) > kInlineSnapshotFold) {
      later.emplace_back(stream, version);
      continue;
    }
    SnapshotInfo info;
    std::string key, value;
    if (s.ok()) s = BuildSnapshot(*this, stream, version, "automatic", &info, &key, &value);
    if (s.ok()) {
      (void)batch.Put(cf(Cf::kSnapshots), key, value);
    } else {
      std::fprintf(stderr, "eventful: automatic snapshot of %s at version %llu failed: %s\n", stream.c_str(),
                   static_cast<unsigned long long>(version), s.ToWire().c_str());
    }
  }
  if (batch.Count() > 0) {
    // Not synced: a snapshot is a cache, checked before use; the next WAL sync makes it durable.
    if (Status s = FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "writing snapshots"); !s.ok()) {
      std::fprintf(stderr, "eventful: automatic snapshots failed: %s\n", s.ToWire().c_str());
    }
  }
  if (!later.empty()) {
    std::lock_guard lock(snapshot_mu_);
    snapshot_queue_.insert(snapshot_queue_.end(), later.begin(), later.end());
    snapshot_cv_.notify_all();
  }
}

void StoreImpl::SnapshotterLoop() {
  for (;;) {
    std::pair<std::string, uint64_t> next;
    {
      std::unique_lock lock(snapshot_mu_);
      snapshot_busy_ = false;
      snapshot_cv_.notify_all();
      snapshot_cv_.wait(lock, [&] { return !snapshot_queue_.empty() || snapshot_stopping_; });
      if (snapshot_stopping_) return;
      next = std::move(snapshot_queue_.front());
      snapshot_queue_.erase(snapshot_queue_.begin());
      snapshot_busy_ = true;
    }
    SnapshotInfo info;
    std::string key, value;
    Status s = BuildSnapshot(*this, next.first, next.second, "automatic", &info, &key, &value);
    if (s.ok()) s = FromRocks(db_->Put(rocksdb::WriteOptions(), cf(Cf::kSnapshots), key, value), "writing a snapshot");
    if (!s.ok()) {
      std::fprintf(stderr, "eventful: automatic snapshot of %s at version %llu failed: %s\n", next.first.c_str(),
                   static_cast<unsigned long long>(next.second), s.ToWire().c_str());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// EventsIterator

EventsIterator::EventsIterator(rocksdb::DB* db, rocksdb::ReadOptions ro, rocksdb::ColumnFamilyHandle* events,
                               rocksdb::ColumnFamilyHandle* archive)
    : db_(db) {
  if (ro.snapshot == nullptr) {
    own_snapshot_ = db->GetSnapshot();
    ro.snapshot = own_snapshot_;
  }
  a_.reset(db->NewIterator(ro, events));
  b_.reset(db->NewIterator(ro, archive));
}

EventsIterator::~EventsIterator() {
  a_.reset();
  b_.reset();
  if (own_snapshot_) db_->ReleaseSnapshot(own_snapshot_);
}

void EventsIterator::Pick() {
  const bool a = a_->Valid(), b = b_->Valid();
  if ((!a && !a_->status().ok()) || (!b && !b_->status().ok())) {  // a read error ends the iteration
    current_ = nullptr;
    return;
  }
  if (a && b) {
    const int c = a_->key().compare(b_->key());
    current_ = (forward_ ? c <= 0 : c >= 0) ? a_.get() : b_.get();
  } else {
    current_ = a ? a_.get() : b ? b_.get() : nullptr;
  }
}

void EventsIterator::Seek(const rocksdb::Slice& key) {
  forward_ = true;
  a_->Seek(key);
  b_->Seek(key);
  Pick();
}

void EventsIterator::SeekForPrev(const rocksdb::Slice& key) {
  forward_ = false;
  a_->SeekForPrev(key);
  b_->SeekForPrev(key);
  Pick();
}

void EventsIterator::SeekToFirst() {
  forward_ = true;
  a_->SeekToFirst();
  b_->SeekToFirst();
  Pick();
}

void EventsIterator::Next() {
  current_->Next();
  Pick();
}

void EventsIterator::Prev() {
  current_->Prev();
  Pick();
}

rocksdb::Status EventsIterator::status() const { return a_->status().ok() ? b_->status() : a_->status(); }

// ---------------------------------------------------------------------------------------------
// Facade

Store::Store(std::unique_ptr<StoreImpl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  auto impl = std::make_unique<StoreImpl>(options);
  Status s = impl->Open();
  if (!s.ok()) return s;
  out->reset(new Store(std::move(impl)));
  return Status::Ok();
}

void Store::Append(AppendRequest request, AppendCallback done) { impl_->Append(std::move(request), std::move(done)); }

void Store::WaitForBackgroundSnapshots() { impl_->WaitForBackgroundSnapshots(); }

void StoreImpl::WaitForBackgroundSnapshots() {
  std::unique_lock lock(snapshot_mu_);
  snapshot_cv_.wait(lock, [&] { return (snapshot_queue_.empty() && !snapshot_busy_) || snapshot_stopping_; });
}

}  // namespace eventful::storage
