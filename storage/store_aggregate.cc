// Aggregate state and snapshots (AGGREGATE:GET, SNAPSHOT, AGGREGATE:SNAPSHOTS).
//
// State = the fold of a stream's events in version order over their `data` objects: each field
// set to its latest value, `null` removes it; string (opaque) data leaves the state unchanged.
//
// Snapshot record (snapshots CF, key stream_id | version):
//   {"version":N,"root":"<hex>","comment":"…","created_at":"…","state":{…},"check":"<hex>"}
//   check := hex SHA-256("eventful snapshot v1|" version "|" root "|" JSON(state))
// Before a snapshot is used, its check must hold and its root must equal the stream's Merkle root at
// its version (O(log n) from the stored nodes); one that fails is ignored (and reported) and the
// next older snapshot is tried.
#include <rocksdb/db.h>
#include <simdjson.h>

#include <cstdio>
#include <map>

#include "storage/clock.h"
#include "storage/codec.h"
#include "storage/event.h"
#include "storage/json_text.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

constexpr int kMaxSnapshotTries = 8;  // older snapshots tried before folding from the start
constexpr uint64_t kFoldPage = 1000;

using State = std::map<std::string, std::string>;

std::string StateJson(const State& state) {
  Payload p;
  for (const auto& [k, v] : state) p.fields.emplace_back(k, v);
  std::string out;
  AppendPayloadJson(&out, p);
  return out;
}

std::string Check(uint64_t version, const Hash& root, const State& state) {
  return ToHex(Sha256("eventful snapshot v1|" + std::to_string(version) + "|" + ToHex(root) + "|" + StateJson(state)));
}

std::string EncodeSnapshot(uint64_t version, const Hash& root, std::string_view comment, const std::string& created_at,
                           const State& state) {
  std::string out = "{\"version\":" + std::to_string(version) + ",\"root\":\"" + ToHex(root) + "\",\"comment\":";
  AppendJsonString(&out, comment);
  out += ",\"created_at\":";
  AppendJsonString(&out, created_at);
  out += ",\"state\":" + StateJson(state) + ",\"check\":\"" + Check(version, root, state) + "\"}";
  return out;
}

// Parses a record; false (with *why) when it is unreadable or its check fails.
bool DecodeSnapshot(std::string_view json, SnapshotInfo* out, State* state, std::string* why) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o) != simdjson::SUCCESS) {
    *why = "unreadable";
    return false;
  }
  std::string_view root, comment, created, check;
  simdjson::dom::object fields;
  if (o["version"].get_uint64().get(out->version) != simdjson::SUCCESS || o["root"].get_string().get(root) ||
      o["comment"].get_string().get(comment) || o["created_at"].get_string().get(created) ||
      o["state"].get_object().get(fields) || o["check"].get_string().get(check) || !FromHex(root, &out->root)) {
    *why = "unreadable";
    return false;
  }
  state->clear();
  for (auto [k, v] : fields) {
    std::string_view value;
    if (v.get_string().get(value) != simdjson::SUCCESS) {
      *why = "unreadable";
      return false;
    }
    (*state)[std::string(k)] = std::string(value);
  }
  out->comment = std::string(comment);
  out->created_at = std::string(created);
  if (Check(out->version, out->root, *state) != check) {
    *why = "its content does not match its check value";
    return false;
  }
  return true;
}

// Folds the events (from, to] of a stream into `state`.
Status Fold(StoreImpl& impl, std::string_view stream, uint64_t from, uint64_t to, State* state) {
  for (uint64_t after = from; after < to;) {
    ReadRequest r;
    r.stream = std::string(stream);
    r.version = after;
    r.limit = std::min<uint64_t>(kFoldPage, to - after);
    std::vector<EventRef> events;
    if (Status s = ReadStreamEvents(impl, r, &events); !s.ok()) return s;
    if (events.empty()) return Status::Err("storage corruption: stream '" + std::string(stream) + "' ends early");
    for (const auto& json : events) {
      Event e;
      std::string why;
      if (!ParseEventJson(*json, &e, &why)) return Status::Err("storage corruption: stored event unreadable: " + why);
      if (e.data.is_string) continue;
      for (const auto& [k, v] : e.data.fields) {
        if (v) {
          (*state)[k] = *v;
        } else {
          state->erase(k);
        }
      }
    }
    after += events.size();
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> Flat(const State& s) { return {s.begin(), s.end()}; }

}  // namespace

Status ComputeAggregate(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, AggregateState* out) {
  StoreImpl* impl_ = &impl;
  *out = AggregateState{};
  std::optional<StreamState> st;
  if (Status s = impl_->LookupStream(stream, &st); !s.ok()) return s;
  if (!st || st->frontier.size == 0) return Status::Err("no such stream");
  const uint64_t size = st->frontier.size;
  const uint64_t at = version.value_or(size);
  if (at > size) return Status::Err("'version' must be at most the stream's version " + std::to_string(size));
  out->version = at;
  if (Status s = at == size ? Status::Ok() : StreamRootAt(*impl_, st->id, at, &out->root); !s.ok()) return s;
  if (at == size) out->root = st->frontier.Root();

  // The nearest usable snapshot at or below `at`.
  State state;
  uint64_t from = 0;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(Cf::kSnapshots)));
  const std::string prefix = U64Key(st->id);
  int tries = 0;
  for (it->SeekForPrev(S(EventKey(st->id, at))); it->Valid() && it->key().starts_with(S(prefix)) && tries < kMaxSnapshotTries;
       it->Prev(), ++tries) {
    SnapshotInfo info;
    std::string why;
    const uint64_t key_version = GetU64BE(std::string_view(it->key().data() + 8, 8));
    if (!DecodeSnapshot(std::string_view(it->value().data(), it->value().size()), &info, &state, &why) ||
        info.version != key_version) {
      out->ignored.push_back("snapshot at version " + std::to_string(key_version) + ": " +
                             (why.empty() ? "stored under another version" : why));
      continue;
    }
    Hash root = st->frontier.Root();
    if (info.version != size) {
      if (Status s = StreamRootAt(*impl_, st->id, info.version, &root); !s.ok()) return s;
    }
    if (root != info.root) {
      out->ignored.push_back("snapshot at version " + std::to_string(info.version) +
                             ": its root does not match the stream's Merkle root at that version");
      continue;
    }
    from = info.version;
    out->snapshot_version = info.version;
    break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading snapshots");
  if (!out->snapshot_version) state.clear();
  if (Status s = Fold(impl, stream, from, at, &state); !s.ok()) return s;
  out->state = Flat(state);
  return Status::Ok();
}

Status BuildSnapshot(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, std::string_view comment,
                     SnapshotInfo* out, std::string* key, std::string* value) {
  AggregateState a;
  if (Status s = ComputeAggregate(impl, stream, version, &a); !s.ok()) return s;
  for (const auto& why : a.ignored) {
    std::fprintf(stderr, "eventful: snapshot of %.*s: ignored %s\n", static_cast<int>(stream.size()), stream.data(),
                 why.c_str());
  }
  std::optional<StreamState> st;
  if (Status s = impl.LookupStream(stream, &st); !s.ok() || !st) return s.ok() ? Status::Err("no such stream") : s;
  const State state(a.state.begin(), a.state.end());
  *out = SnapshotInfo{a.version, a.root, std::string(comment), FormatRfc3339Ms(NowMs()), a.state};
  *key = EventKey(st->id, a.version);
  *value = EncodeSnapshot(a.version, a.root, comment, out->created_at, state);
  return Status::Ok();
}

Status StoreSnapshot(StoreImpl& impl, std::string_view stream, std::optional<uint64_t> version, std::string_view comment,
                     SnapshotInfo* out) {
  std::string key, value;
  if (Status s = BuildSnapshot(impl, stream, version, comment, out, &key, &value); !s.ok()) return s;
  rocksdb::WriteOptions wo;
  wo.sync = impl.options_.sync;
  return FromRocks(impl.db()->Put(wo, impl.cf(Cf::kSnapshots), key, value), "writing a snapshot");
}

uint64_t NearestSnapshotVersion(StoreImpl& impl, uint64_t stream_id, uint64_t version) {
  std::unique_ptr<rocksdb::Iterator> it(impl.db()->NewIterator(rocksdb::ReadOptions(), impl.cf(Cf::kSnapshots)));
  it->SeekForPrev(S(EventKey(stream_id, version)));
  if (it->Valid() && it->key().size() == 16 && GetU64BE(std::string_view(it->key().data(), 8)) == stream_id) {
    return GetU64BE(std::string_view(it->key().data() + 8, 8));
  }
  return 0;
}

Status Store::AggregateAt(std::string_view stream, std::optional<uint64_t> version, AggregateState* out) {
  return ComputeAggregate(*impl_, stream, version, out);
}

Status Store::TakeSnapshot(std::string_view stream, std::string_view comment, SnapshotInfo* out) {
  return StoreSnapshot(*impl_, stream, std::nullopt, comment, out);
}

Status Store::ListSnapshots(std::string_view stream, std::vector<SnapshotInfo>* out) {
  out->clear();
  std::optional<StreamState> st;
  if (Status s = impl_->LookupStream(stream, &st); !s.ok()) return s;
  if (!st) return Status::Err("no such stream");
  std::unique_ptr<rocksdb::Iterator> it(impl_->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(Cf::kSnapshots)));
  const std::string prefix = U64Key(st->id);
  for (it->Seek(S(prefix)); it->Valid() && it->key().starts_with(S(prefix)); it->Next()) {
    SnapshotInfo info;
    State state;
    std::string why;
    if (!DecodeSnapshot(std::string_view(it->value().data(), it->value().size()), &info, &state, &why)) {
      info.version = GetU64BE(std::string_view(it->key().data() + 8, 8));
      info.comment = "(damaged: " + why + ")";
    }
    out->push_back(std::move(info));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading snapshots");
  return Status::Ok();
}

}  // namespace eventful::storage
