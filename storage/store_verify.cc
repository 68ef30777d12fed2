// VERIFY: recompute every leaf hash from stored content and every root and stored interior node
// from the leaves, and check that the indexes agree with the events. Stored hashes, nodes and roots
// are never taken on trust. Every pass reads one RocksDB snapshot, so VERIFY runs beside writers.
//
// The whole-store check makes sequential scans only, in bounded memory (no per-event or
// per-stream state is kept):
//   1. the events CF in key order (stream id, version): each event's content hash against its
//      stored hash, its place, the stream's recomputed root and stored interior nodes against the
//      stream record; and, per index, a multiset digest of the entries the events imply
//      (id -> key, hash -> key, position -> key | hash);
//   2. the log CF in position order: gap-free, its digest, and the global root and the log's
//      interior nodes recomputed from the leaf hashes the log entries carry — which equal the
//      events' content hashes because the digests match and pass 1 checked the stored hashes;
//   3. the ids and hashes CFs: their digests; counts of stream records and stored nodes; meta.
// A digest is the sum mod 2^256 of SHA-256 over each entry's bytes: equal digests mean the index
// holds exactly the entries the events imply, without a random read per event.
#include <rocksdb/db.h>

#include <array>
#include <cstring>
#include <initializer_list>
#include <tuple>
#include <mutex>
#include <thread>
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

// Order-independent digest of a set of entries: sum mod 2^256 of SHA-256(tag | bytes...).
class Digest {
 public:
  void Add(char tag, std::initializer_list<std::string_view> parts) {
    std::string buf(1, tag);
    for (std::string_view p : parts) buf.append(p);
    const Hash h = Sha256(buf);
    unsigned __int128 carry = 0;
    for (int w = 3; w >= 0; --w) {  // big-endian words, least significant last
      const unsigned __int128 sum = static_cast<unsigned __int128>(words_[w]) + GetU64BE(std::string_view(
                                        reinterpret_cast<const char*>(h.data()) + 8 * w, 8)) + carry;
      words_[w] = static_cast<uint64_t>(sum);
      carry = sum >> 64;
    }
    ++count_;
  }
  bool operator==(const Digest&) const = default;
  uint64_t count() const { return count_; }

 private:
  std::array<uint64_t, 4> words_{};
  uint64_t count_ = 0;
};

std::string_view Bytes(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

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
  auto it = std::make_unique<EventsIterator>(impl.db(), ro, impl.cf(Cf::kEvents), impl.cf(Cf::kArchive));
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
    ro_.fill_cache = false;  // a full scan must not evict the hot working set...
    ro_.readahead_size = 2u << 20;
    nodes_ro_.snapshot = snap_.get();  // ...but consecutive node lookups share blocks: cache them
  }

  Status Run() {
    {
      std::shared_lock lock(impl_.state_mu_);
      total_ = impl_.log_.size;  // a progress estimate only; the snapshot may hold a few more
    }
    // The log and index scans need nothing from the events pass until the comparisons: they run
    // on a second thread (the two passes take about equally long).
    Status side_status;
    std::thread side([&] {
      side_status = LogPass();
      if (!side_status.ok()) return;
      ids_stored_ = DigestOf(Cf::kIds, 'i');
      hashes_stored_ = DigestOf(Cf::kHashes, 'h');
      streams_stored_ = CountEntries(Cf::kStreams);
      nodes_stored_ = CountEntries(Cf::kMerkle);
    });
    Status s = EventsPass();
    side.join();
    if (s.ok()) s = side_status;
    if (s.ok()) s = Counts();
    if (!s.ok()) return s;
    report_->ok = problems_ == 0;
    return Status::Ok();
  }

 private:
  void Bad(std::string entry) {
    std::lock_guard lock(bad_mu_);
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
    auto it = std::make_unique<EventsIterator>(impl_.db(), ro_, impl_.cf(Cf::kEvents), impl_.cf(Cf::kArchive));
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
        tree = std::make_unique<TreeChecker>(impl_, nodes_ro_, id);
        stream_id = id;
        expect = 1;
        stream_bad = false;
        name.clear();
      }
      Event e;
      std::string why;
      const bool readable = ParseEventJson(V(it->value()), &e, &why);
      if (name.empty() && readable) name = e.stream;
      Hash stored_hash{};
      if (readable && FromHex(e.hash, &stored_hash)) {
        // The index entries this event implies, wherever the rest of its stream stands.
        std::string position;
        PutU64BE(&position, e.position);
        ids_.Add('i', {e.id, key});
        hashes_.Add('h', {Bytes(stored_hash), key});
        log_.Add('l', {position, key, Bytes(stored_hash)});
      }
      if (stream_bad) {  // one problem per stream: the rest of its tree is meaningless
        ++expect;
        continue;
      }
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
    Progress("events", events_seen_);
    return Status::Ok();
  }

  // Pass 2: the log in position order.
  Status LogPass() {
    TreeChecker log(impl_, nodes_ro_, kLogTreeId);
    Digest digest;
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(ro_, impl_.cf(Cf::kLog)));
    uint64_t expect = 1;
    bool broken = false;  // the log tree cannot be rebuilt past a gap or a bad node
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++expect) {
      const std::string_view key = V(it->key()), value = V(it->value());
      if (key.size() != 8 || value.size() != kLogValueSize) {
        Bad(BadLog(expect, "log entry is malformed"));
        broken = true;
        continue;
      }
      digest.Add('l', {key, value});
      if (broken) continue;
      std::string why;
      Hash leaf;
      std::copy(value.begin() + 16, value.end(), reinterpret_cast<char*>(leaf.data()));
      if (GetU64BE(key) != expect) {
        Bad(BadLog(expect, "log position " + std::to_string(expect) + " is missing"));
        broken = true;
      } else if (!log.Append(leaf, &why)) {
        Bad(BadLog(expect, "log tree: " + why));
        broken = true;
      }
      if (expect % kProgressEvery == 0) {
        if (Status s = Cancelled(); !s.ok()) return s;
        Progress("log", expect);
      }
    }
    if (!it->status().ok()) {
      Bad(BadLog(expect, FromRocks(it->status(), "reading the log").message()));
      broken = true;
    }
    log_stored_ = digest;
    log_nodes_ = log.nodes();
    report_->events = log.frontier().size;
    report_->root = ToHex(log.frontier().Root());
    Progress("log", expect - 1);
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
    return Status::Ok();
  }

  // Digest and count of an index CF whose entries are key -> event key.
  Digest DigestOf(Cf cf, char tag) {
    Digest d;
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(ro_, impl_.cf(cf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) d.Add(tag, {V(it->key()), V(it->value())});
    if (!it->status().ok()) Bad(BadStore(FromRocks(it->status(), "reading an index").message()));
    return d;
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
    auto expect_count = [&](uint64_t n, uint64_t expected, const char* what) {
      if (n != expected) {
        Bad(BadStore(std::string(what) + ": " + std::to_string(n) + " stored, " + std::to_string(expected) + " expected"));
      }
    };
    expect_count(streams_stored_, streams_seen_, "stream records");
    for (auto [stored, implied, what] : {std::tuple{&log_stored_, &log_, "log"}, std::tuple{&ids_stored_, &ids_, "id index"},
                                         std::tuple{&hashes_stored_, &hashes_, "hash index"}}) {
      if (!(*stored == *implied)) {
        Bad(BadStore(std::string("the ") + what + " does not match the events: " + std::to_string(stored->count()) +
                     " entries for " + std::to_string(implied->count()) + " events, or entries naming the wrong event"));
      }
    }
    // Only meaningful when every tree was rebuilt to its end; otherwise a problem is reported already.
    if (trees_complete_) expect_count(nodes_stored_, nodes_expected_ + log_nodes_, "stored Merkle nodes");
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
  rocksdb::ReadOptions ro_;        // sequential scans
  rocksdb::ReadOptions nodes_ro_;  // stored Merkle node lookups
  Digest ids_, hashes_, log_;  // what the events imply for each index (events pass)
  // What the indexes hold (second thread).
  Digest ids_stored_, hashes_stored_, log_stored_;
  uint64_t streams_stored_ = 0;
  uint64_t nodes_stored_ = 0;
  std::mutex bad_mu_;  // guards problems_, trees_complete_, report_->bad
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
