// VERIFY: recompute every leaf hash from stored content and every root and stored interior node
// from the leaves, and check that the indexes agree with the events. Stored hashes, nodes and roots
// are never taken on trust. Every pass reads one RocksDB snapshot, so VERIFY runs beside writers.
//
// The whole-store check streams, in bounded memory (no per-event or per-stream state is kept):
//   1. the events CF in key order (stream id, version): each event's content hash, its place, the
//      stream's recomputed root and interior nodes against the stream record, and the indexes
//      ids[id], hashes[hash] and log[position] naming this event (batched MultiGets);
//   2. the log CF in position order: gap-free, and the global root and the log's interior nodes
//      recomputed from the events' hashes (checked in pass 1 against their content);
//   3. counts: streams, index entries, stored nodes and the meta counters equal what was seen.
// Given (1), equal counts make every index a bijection onto the events.
#include <rocksdb/db.h>

#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "storage/codec.h"
#include "storage/event.h"
#include "storage/json_text.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }
std::string_view V(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

constexpr size_t kMaxBad = 100;   // problems listed in a report; the verdict counts them all
constexpr size_t kBatch = 1024;   // events per batch of index lookups
constexpr uint64_t kProgressEvery = 1u << 18;

class SnapshotGuard {
 public:
  explicit SnapshotGuard(rocksdb::DB* db) : db_(db), snap_(db->GetSnapshot()) {}
  ~SnapshotGuard() { db_->ReleaseSnapshot(snap_); }
  const rocksdb::Snapshot* get() const { return snap_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snap_;
};

// Rebuilds one tree (a stream's or the log's) leaf by leaf and compares each interior node the
// store keeps (level >= kMinStoredMerkleLevel) with the recomputed one.
class TreeChecker {
 public:
  TreeChecker(StoreImpl& impl, const rocksdb::ReadOptions& ro, uint64_t tree) : impl_(impl), ro_(ro), tree_(tree) {}

  // Adds a leaf; false (with *why) when a stored node disagrees or cannot be read.
  bool Append(const Hash& leaf, std::string* why) {
    bool good = true;
    frontier_.Append(leaf, [&](int level, uint64_t index, const Hash& node) {
      if (!good || level < kMinStoredMerkleLevel) return;
      ++nodes_;
      std::string stored;
      rocksdb::Status s = impl_.db()->Get(ro_, impl_.cf(Cf::kMerkle), S(MerkleKey(tree_, level, index)), &stored);
      if (s.ok() && stored.size() == node.size() && std::memcmp(stored.data(), node.data(), node.size()) == 0) return;
      good = false;
      *why = "stored Merkle node (level " + std::to_string(level) + ", index " + std::to_string(index) + ") " +
             (s.IsNotFound() ? "is missing" : s.ok() ? "does not match the events" : FromRocks(s, "").message());
    });
    return good;
  }
  const Frontier& frontier() const { return frontier_; }
  uint64_t nodes() const { return nodes_; }  // stored nodes expected (and checked) so far

 private:
  StoreImpl& impl_;
  const rocksdb::ReadOptions& ro_;
  const uint64_t tree_;
  Frontier frontier_;
  uint64_t nodes_ = 0;
};

std::string BadStream(std::string_view stream, uint64_t version, std::string_view reason) {
  std::string out = "{\"stream\":";
  AppendJsonString(&out, stream);
  out += ",\"first_bad_version\":" + std::to_string(version) + ",\"reason\":";
  AppendJsonString(&out, reason);
  out += '}';
  return out;
}

std::string BadLog(uint64_t position, std::string_view reason) {
  std::string out = "{\"position\":" + std::to_string(position) + ",\"reason\":";
  AppendJsonString(&out, reason);
  out += '}';
  return out;
}

std::string BadStore(std::string_view reason) {
  std::string out = "{\"reason\":";
  AppendJsonString(&out, reason);
  out += '}';
  return out;
}

// Verifies one stream's events [1, recorded.frontier.size] under `ro` (VERIFY {"stream"}).
Status VerifyStreamAt(StoreImpl& impl, const rocksdb::ReadOptions& ro, std::string_view name,
                      const StreamState& recorded, StreamVerifyReport* r) {
  r->stream = std::string(name);
  r->version = recorded.frontier.size;
  TreeChecker tree(impl, ro, recorded.id);
  std::unique_ptr<rocksdb::Iterator> it(impl.db()->NewIterator(ro, impl.cf(Cf::kEvents)));
  const std::string prefix = U64Key(recorded.id);
  auto fail = [&](uint64_t version, std::string reason) {
    r->ok = false;
    r->first_bad_version = version;
    r->reason = std::move(reason);
    return Status::Ok();
  };
  uint64_t expect = 1;
  for (it->Seek(S(prefix)); it->Valid() && it->key().starts_with(S(prefix)); it->Next(), ++expect) {
    const uint64_t version = GetU64BE(V(it->key()).substr(8));
    if (version != expect) return fail(expect, "event at version " + std::to_string(expect) + " is missing");
    Event e;
    std::string why;
    if (!ParseEventJson(V(it->value()), &e, &why)) return fail(version, "stored event is unreadable: " + why);
    if (e.stream != name || e.version != version) {
      return fail(version, "stored event names stream '" + e.stream + "' version " + std::to_string(e.version));
    }
    const Hash leaf = ComputeEventHash(e);
    if (ToHex(leaf) != e.hash) return fail(version, "event content does not match its hash");
    if (!tree.Append(leaf, &why)) return fail(version, why);
  }
  if (!it->status().ok()) return fail(expect, FromRocks(it->status(), "reading the stream").message());
  const Frontier& f = tree.frontier();
  if (f.size < recorded.frontier.size) {
    return fail(f.size + 1, "event at version " + std::to_string(f.size + 1) + " is missing");
  }
  if (f.size > recorded.frontier.size) {
    return fail(recorded.frontier.size + 1, "events beyond the recorded version " + std::to_string(recorded.frontier.size));
  }
  if (f.Root() != recorded.frontier.Root()) {
    return fail(recorded.frontier.size == 0 ? 1 : recorded.frontier.size,
                "recomputed stream root does not match the recorded root");
  }
  r->root = ToHex(f.Root());
  return Status::Ok();
}

// The whole-store check (see the top of the file). One instance per VERIFY {}.
class StoreVerifier {
 public:
  StoreVerifier(StoreImpl& impl, const VerifyControl& control, StoreVerifyReport* report)
      : impl_(impl), control_(control), report_(report), snap_(impl.db()) {
    ro_.snapshot = snap_.get();
    ro_.fill_cache = false;  // a full scan must not evict the hot working set
  }

  Status Run() {
    {
      std::shared_lock lock(impl_.state_mu_);
      total_ = impl_.log_.size;  // a progress estimate only; the snapshot may hold a few more
    }
    Status s = EventsPass();
    if (s.ok()) s = LogPass();
    if (s.ok()) s = Counts();
    if (!s.ok()) return s;
    report_->ok = problems_ == 0;
    return Status::Ok();
  }

 private:
  struct Pending {  // an event of pass 1 whose index entries are looked up in the next batch
    std::string key;  // stream id | version
    std::string id;
    Hash hash;
    std::string position;  // u64 BE
    std::string stream;
    uint64_t version;
  };

  void Bad(std::string entry) {
    ++problems_;
    trees_complete_ = false;
    if (report_->bad.size() < kMaxBad) report_->bad.push_back(std::move(entry));
  }

  Status Cancelled() const {
    if (control_.cancel && control_.cancel->load()) return Status::Err("VERIFY cancelled: the server is shutting down");
    return Status::Ok();
  }

  void Progress(std::string_view phase, uint64_t done) {
    if (control_.progress) control_.progress(phase, done, total_);
  }

  // Pass 1: events in (stream id, version) order.
  Status EventsPass() {
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(ro_, impl_.cf(Cf::kEvents)));
    std::unique_ptr<TreeChecker> tree;
    uint64_t stream_id = 0, expect = 0;
    std::string name;
    bool stream_bad = false;
    auto finish_stream = [&]() -> Status {
      if (!tree) return Status::Ok();
      ++streams_seen_;
      nodes_expected_ += tree->nodes();
      if (stream_bad) return Status::Ok();
      std::string value;
      rocksdb::Status s = impl_.db()->Get(ro_, impl_.cf(Cf::kStreams), S(name), &value);
      StreamState recorded;
      if (!s.ok() && !s.IsNotFound()) {
        Bad(BadStream(name, 1, FromRocks(s, "reading the stream record").message()));
      } else if (s.IsNotFound()) {
        Bad(BadStream(name, 1, "the stream has events but no stream record"));
      } else if (!DecodeStreamState(value, &recorded) || recorded.id != stream_id) {
        Bad(BadStream(name, 1, "the stream record is unreadable or names another stream id"));
      } else if (recorded.frontier.size != tree->frontier().size) {
        const uint64_t n = std::min(recorded.frontier.size, tree->frontier().size) + 1;
        Bad(BadStream(name, n, "the stream record says version " + std::to_string(recorded.frontier.size) + " but " +
                                   std::to_string(tree->frontier().size) + " events are stored"));
      } else if (recorded.frontier.Root() != tree->frontier().Root()) {
        Bad(BadStream(name, recorded.frontier.size, "recomputed stream root does not match the recorded root"));
      }
      return Status::Ok();
    };

    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string_view key = V(it->key());
      if (key.size() != 16) {
        Bad(BadStore("an events key is malformed"));
        continue;
      }
      const uint64_t id = GetU64BE(key), version = GetU64BE(key.substr(8));
      ++events_seen_;
      if (!tree || id != stream_id) {
        if (Status s = finish_stream(); !s.ok()) return s;
        tree = std::make_unique<TreeChecker>(impl_, ro_, id);
        stream_id = id;
        expect = 1;
        stream_bad = false;
        name.clear();
      }
      Event e;
      std::string why;
      const bool readable = ParseEventJson(V(it->value()), &e, &why);
      if (name.empty() && readable) name = e.stream;
      if (stream_bad) continue;  // one problem per stream: the rest of its tree is meaningless
      if (!readable) {
        stream_bad = true;
        Bad(BadStream(name, version, "stored event is unreadable: " + why));
      } else if (version != expect) {
        stream_bad = true;
        Bad(BadStream(name, expect, "event at version " + std::to_string(expect) + " is missing"));
      } else if (e.stream != name || e.version != version) {
        stream_bad = true;
        Bad(BadStream(name, version, "stored event names stream '" + e.stream + "' version " + std::to_string(e.version)));
      } else {
        const Hash leaf = ComputeEventHash(e);
        if (ToHex(leaf) != e.hash) {
          stream_bad = true;
          Bad(BadStream(name, version, "event content does not match its hash"));
        } else if (!tree->Append(leaf, &why)) {
          stream_bad = true;
          Bad(BadStream(name, version, why));
        } else {
          std::string position;
          PutU64BE(&position, e.position);
          pending_.push_back({std::string(key), std::move(e.id), leaf, std::move(position), name, version});
          if (pending_.size() == kBatch) CheckIndexes();
        }
      }
      ++expect;
      if (events_seen_ % kProgressEvery == 0) {
        if (Status s = Cancelled(); !s.ok()) return s;
        Progress("events", events_seen_);
      }
    }
    if (!it->status().ok()) Bad(BadStore(FromRocks(it->status(), "reading the events").message()));
    if (Status s = finish_stream(); !s.ok()) return s;
    CheckIndexes();
    Progress("events", events_seen_);
    return Status::Ok();
  }

  // ids[id], hashes[hash] and log[position] of each pending event must name that event.
  void CheckIndexes() {
    if (pending_.empty()) return;
    const size_t n = pending_.size();
    struct IndexSpec {
      Cf cf;
      const char* name;
    };
    for (IndexSpec index : {IndexSpec{Cf::kIds, "id"}, IndexSpec{Cf::kHashes, "hash"}, IndexSpec{Cf::kLog, "log position"}}) {
      std::vector<rocksdb::Slice> keys(n);
      for (size_t i = 0; i < n; ++i) {
        const Pending& p = pending_[i];
        keys[i] = index.cf == Cf::kIds      ? S(p.id)
                  : index.cf == Cf::kHashes ? rocksdb::Slice(reinterpret_cast<const char*>(p.hash.data()), p.hash.size())
                                            : S(p.position);
      }
      std::vector<rocksdb::PinnableSlice> values(n);
      std::vector<rocksdb::Status> statuses(n);
      impl_.db()->MultiGet(ro_, impl_.cf(index.cf), n, keys.data(), values.data(), statuses.data());
      for (size_t i = 0; i < n; ++i) {
        if (statuses[i].ok() && V(values[i]) == pending_[i].key) continue;
        const std::string what = statuses[i].IsNotFound() ? " is missing"
                                 : statuses[i].ok()        ? " names another event"
                                                           : ": " + FromRocks(statuses[i], "").message();
        Bad(BadStream(pending_[i].stream, pending_[i].version, std::string("the ") + index.name + " index entry" + what));
      }
    }
    pending_.clear();
  }

  // Pass 2: the log in position order.
  Status LogPass() {
    TreeChecker log(impl_, ro_, kLogTreeId);
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(ro_, impl_.cf(Cf::kLog)));
    uint64_t expect = 1;
    bool broken = false;
    std::vector<std::string> keys;
    auto flush = [&]() {
      const size_t n = keys.size();
      if (n == 0 || broken) return;
      std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
      std::vector<rocksdb::PinnableSlice> values(n);
      std::vector<rocksdb::Status> statuses(n);
      impl_.db()->MultiGet(ro_, impl_.cf(Cf::kEvents), n, slices.data(), values.data(), statuses.data(), false);
      const uint64_t first = log.frontier().size + 1;
      for (size_t i = 0; i < n && !broken; ++i) {
        Hash leaf;
        std::string why;
        // The stored hash was checked against the event's content in pass 1 (same snapshot).
        if (!statuses[i].ok()) {
          broken = true;
          Bad(BadLog(first + i, statuses[i].IsNotFound() ? "the log names a missing event"
                                                         : FromRocks(statuses[i], "").message()));
        } else if (!StoredEventHash(V(values[i]), &leaf)) {
          broken = true;
          Bad(BadLog(first + i, "the logged event has no readable hash"));
        } else if (!log.Append(leaf, &why)) {
          broken = true;
          Bad(BadLog(first + i, "log tree: " + why));
        }
      }
      keys.clear();
    };
    for (it->SeekToFirst(); it->Valid() && !broken; it->Next(), ++expect) {
      const std::string_view key = V(it->key());
      if (key.size() != 8 || GetU64BE(key) != expect || it->value().size() != 16) {
        flush();
        broken = true;
        Bad(BadLog(expect, key.size() == 8 && GetU64BE(key) > expect ? "log position is missing" : "log entry is malformed"));
        break;
      }
      keys.emplace_back(V(it->value()));
      if (keys.size() == kBatch) flush();
      if (expect % kProgressEvery == 0) {
        if (Status s = Cancelled(); !s.ok()) return s;
        Progress("log", expect);
      }
    }
    flush();
    if (!it->status().ok()) Bad(BadLog(expect, FromRocks(it->status(), "reading the log").message()));
    log_nodes_ = log.nodes();
    report_->events = log.frontier().size;
    report_->root = ToHex(log.frontier().Root());
    if (broken) return Status::Ok();

    std::string value;
    Frontier recorded;
    rocksdb::Status s = impl_.db()->Get(ro_, impl_.cf(Cf::kMeta), S(kMetaLogFrontier), &value);
    if (!s.ok() && !s.IsNotFound()) {
      Bad(BadLog(0, FromRocks(s, "reading the log frontier").message()));
    } else if (s.ok() && !Frontier::Decode(value, &recorded)) {
      Bad(BadLog(0, "the recorded log frontier is unreadable"));
    } else if (recorded.size != log.frontier().size || recorded.Root() != log.frontier().Root()) {
      Bad(BadLog(log.frontier().size, "recomputed log root does not match the recorded root"));
    }
    Progress("log", expect - 1);
    return Status::Ok();
  }

  uint64_t CountEntries(Cf cf) {
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(ro_, impl_.cf(cf)));
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    if (!it->status().ok()) Bad(BadStore(FromRocks(it->status(), "counting entries").message()));
    return n;
  }

  // Pass 3: every index and record accounted for.
  Status Counts() {
    auto expect_count = [&](Cf cf, uint64_t expected, const char* what) {
      const uint64_t n = CountEntries(cf);
      if (n != expected) {
        Bad(BadStore(std::string(what) + ": " + std::to_string(n) + " stored, " + std::to_string(expected) + " expected"));
      }
    };
    expect_count(Cf::kStreams, streams_seen_, "stream records");
    expect_count(Cf::kIds, events_seen_, "id index entries");
    expect_count(Cf::kHashes, events_seen_, "hash index entries");
    expect_count(Cf::kLog, events_seen_, "log entries");
    // Only meaningful when every tree was rebuilt to its end; otherwise a problem is reported already.
    if (trees_complete_) expect_count(Cf::kMerkle, nodes_expected_ + log_nodes_, "stored Merkle nodes");
    std::string value;
    rocksdb::Status s = impl_.db()->Get(ro_, impl_.cf(Cf::kMeta), S(kMetaStreamCount), &value);
    const uint64_t counted = s.ok() && value.size() == 8 ? GetU64BE(value) : 0;
    if ((s.ok() || !s.IsNotFound()) && counted != streams_seen_) {
      Bad(BadStore("the stream counter says " + std::to_string(counted) + " but " + std::to_string(streams_seen_) +
                   " streams are stored"));
    }
    report_->streams = streams_seen_;
    return Status::Ok();
  }

  StoreImpl& impl_;
  const VerifyControl& control_;
  StoreVerifyReport* report_;
  SnapshotGuard snap_;
  rocksdb::ReadOptions ro_;
  std::vector<Pending> pending_;
  uint64_t total_ = 0;
  uint64_t problems_ = 0;
  uint64_t events_seen_ = 0;
  uint64_t streams_seen_ = 0;
  uint64_t nodes_expected_ = 0;
  uint64_t log_nodes_ = 0;
  bool trees_complete_ = true;  // no problem found before the counts
};

}  // namespace

Status Store::VerifyStream(std::string_view stream, StreamVerifyReport* report) {
  *report = StreamVerifyReport{};
  report->stream = std::string(stream);
  SnapshotGuard snap(impl_->db());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  std::string value;
  rocksdb::Status s = impl_->db()->Get(ro, impl_->cf(Cf::kStreams), S(stream), &value);
  if (s.IsNotFound()) {
    report->root = ToHex(EmptyTreeHash());
    return Status::Ok();
  }
  if (!s.ok()) return FromRocks(s, "reading stream '" + std::string(stream) + "'");
  StreamState recorded;
  if (!DecodeStreamState(value, &recorded)) {
    report->ok = false;
    report->first_bad_version = 1;
    report->reason = "the stream's record is unreadable";
    return Status::Ok();
  }
  return VerifyStreamAt(*impl_, ro, stream, recorded, report);
}

Status Store::VerifyAll(StoreVerifyReport* report, const VerifyControl& control) {
  *report = StoreVerifyReport{};
  StoreVerifier verifier(*impl_, control, report);
  return verifier.Run();
}

}  // namespace eventful::storage
