// VERIFY: recompute every leaf hash from stored content and every root from the leaves, and
// compare with what the store recorded. Stored hashes and roots are never taken on trust.
// Both passes read one RocksDB snapshot, so VERIFY runs concurrently with writers.
#include <rocksdb/db.h>

#include "storage/codec.h"
#include "storage/event.h"
#include "storage/json_text.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

class SnapshotGuard {
 public:
  explicit SnapshotGuard(rocksdb::DB* db) : db_(db), snap_(db->GetSnapshot()) {}
  ~SnapshotGuard() { db_->ReleaseSnapshot(snap_); }
  const rocksdb::Snapshot* get() const { return snap_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snap_;
};

// Verifies one stream's events [1, recorded.frontier.size] under `ro`.
Status VerifyStreamAt(StoreImpl& impl, const rocksdb::ReadOptions& ro, std::string_view name,
                      const StreamState& recorded, StreamVerifyReport* r) {
  r->stream = std::string(name);
  r->version = recorded.frontier.size;
  Frontier recomputed;
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
    const uint64_t version = GetU64BE(std::string_view(it->key().data() + 8, 8));
    if (version != expect) return fail(expect, "event at version " + std::to_string(expect) + " is missing");
    Event e;
    std::string why;
    if (!ParseEventJson(std::string_view(it->value().data(), it->value().size()), &e, &why)) {
      return fail(version, "stored event is unreadable: " + why);
    }
    if (e.stream != name || e.version != version) {
      return fail(version, "stored event names stream '" + e.stream + "' version " + std::to_string(e.version));
    }
    const Hash leaf = ComputeEventHash(e);
    if (ToHex(leaf) != e.hash) return fail(version, "event content does not match its hash");
    recomputed.Append(leaf);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "verifying stream '" + std::string(name) + "'");
  if (recomputed.size < recorded.frontier.size) {
    return fail(recomputed.size + 1, "event at version " + std::to_string(recomputed.size + 1) + " is missing");
  }
  if (recomputed.size > recorded.frontier.size) {
    return fail(recorded.frontier.size + 1, "events beyond the recorded version " +
                                                std::to_string(recorded.frontier.size));
  }
  if (recomputed.Root() != recorded.frontier.Root()) {
    return fail(recorded.frontier.size == 0 ? 1 : recorded.frontier.size,
                "recomputed stream root does not match the recorded root");
  }
  r->root = ToHex(recomputed.Root());
  return Status::Ok();
}

std::string BadStream(const StreamVerifyReport& r) {
  std::string out = "{\"stream\":";
  AppendJsonString(&out, r.stream);
  out += ",\"first_bad_version\":" + std::to_string(r.first_bad_version) + ",\"reason\":";
  AppendJsonString(&out, r.reason);
  out += '}';
  return out;
}

std::string BadLog(uint64_t position, std::string_view reason) {
  std::string out = "{\"position\":" + std::to_string(position) + ",\"reason\":";
  AppendJsonString(&out, reason);
  out += '}';
  return out;
}

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

Status Store::VerifyAll(StoreVerifyReport* report) {
  *report = StoreVerifyReport{};
  SnapshotGuard snap(impl_->db());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();

  // Pass 1: every stream, its events' hashes and its root.
  uint64_t events_in_streams = 0;
  std::unique_ptr<rocksdb::Iterator> st(impl_->db()->NewIterator(ro, impl_->cf(Cf::kStreams)));
  for (st->SeekToFirst(); st->Valid(); st->Next()) {
    const std::string name = st->key().ToString();
    ++report->streams;
    StreamState recorded;
    StreamVerifyReport r;
    if (!DecodeStreamState(std::string_view(st->value().data(), st->value().size()), &recorded)) {
      r.stream = name;
      r.ok = false;
      r.first_bad_version = 1;
      r.reason = "the stream's record is unreadable";
    } else {
      events_in_streams += recorded.frontier.size;
      Status s = VerifyStreamAt(*impl_, ro, name, recorded, &r);
      if (!s.ok()) return s;
    }
    if (!r.ok) {
      report->ok = false;
      report->bad.push_back(BadStream(r));
    }
  }
  if (!st->status().ok()) return FromRocks(st->status(), "verifying streams");

  // Pass 2: the global log in position order; each log entry must point at an event whose
  // position field matches, and the log root is recomputed from content.
  Frontier log;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db()->NewIterator(ro, impl_->cf(Cf::kLog)));
  uint64_t expect = 1;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++expect) {
    const uint64_t position = it->key().size() == 8 ? GetU64BE(std::string_view(it->key().data(), 8)) : 0;
    if (position != expect) {
      report->ok = false;
      report->bad.push_back(BadLog(expect, "log position is missing"));
      break;
    }
    std::string value;
    rocksdb::Status s = it->value().size() == 16
                            ? impl_->db()->Get(ro, impl_->cf(Cf::kEvents), it->value(), &value)
                            : rocksdb::Status::Corruption("bad log entry");
    Event e;
    std::string why;
    if (!s.ok() || !ParseEventJson(value, &e, &why) || e.position != position) {
      report->ok = false;
      report->bad.push_back(BadLog(position, s.ok() ? "log entry does not match its event" : s.ToString()));
      break;
    }
    log.Append(ComputeEventHash(e));  // from content, never the stored hash
  }
  if (!it->status().ok()) return FromRocks(it->status(), "verifying the log");
  report->events = log.size;
  report->root = ToHex(log.Root());

  std::string recorded_value;
  Frontier recorded;
  rocksdb::Status s = impl_->db()->Get(ro, impl_->cf(Cf::kMeta), S(kMetaLogFrontier), &recorded_value);
  if (s.ok() && !Frontier::Decode(recorded_value, &recorded)) {
    report->ok = false;
    report->bad.push_back(BadLog(0, "the recorded log frontier is unreadable"));
  } else if (!s.ok() && !s.IsNotFound()) {
    return FromRocks(s, "reading the log frontier");
  }
  if (report->ok && (recorded.size != log.size || recorded.Root() != log.Root())) {
    report->ok = false;
    report->bad.push_back(BadLog(log.size, "recomputed log root does not match the recorded root"));
  }
  if (report->ok && events_in_streams != log.size) {
    report->ok = false;
    report->bad.push_back(BadLog(log.size, "the streams hold " + std::to_string(events_in_streams) +
                                               " events but the log has " + std::to_string(log.size)));
  }
  return Status::Ok();
}

}  // namespace eventful::storage
