// eventful_tamper: edits the RocksDB store of a STOPPED server the way someone with disk access
// (and our source code) could, so that tests/integration/test_tamper.py can check that every edit
// is detected. Test code only; never installed.
//
//   eventful_tamper flip-data   <db> <stream> <version>
//   eventful_tamper edit-event  <db> <stream> <version> <field> <value> [--rehash-event] [--rehash-all]
//   eventful_tamper delete-last <db> <stream>
//   eventful_tamper swap        <db> <stream> <v1> <v2>
//   eventful_tamper set-node    <db> <log|stream> <level> <index>
//   eventful_tamper compact     <db>
//   eventful_tamper sst-files   <db> <cf>
//
// <db> is the RocksDB directory, <data-dir>/db. Exit status 0 on success; otherwise a message on
// stderr and status 1 (2 for bad usage). Every edit is one synced WriteBatch.
#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdlib>
#include <charconv>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/codec.h"
#include "storage/encryption.h"
#include "storage/column_families.h"
#include "storage/event.h"
#include "storage/hash.h"
#include "storage/merkle.h"
#include "storage/status.h"
#include "storage/store_impl.h"

namespace eventful::tamper {
namespace {

using storage::Cf;
using storage::Event;
using storage::Hash;

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

std::string HashBytes(const Hash& h) { return std::string(reinterpret_cast<const char*>(h.data()), h.size()); }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::Err(std::string(what) + ": " + s.ToString());
}

bool ParseU64(std::string_view text, uint64_t* out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

// The store opened with all its column families; closed (and synced) by the destructor.
class Db {
 public:
  ~Db() {
    if (!db_) return;
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }

  // The store is encrypted with the DEK in EVENTFUL_DEK (as the tests start the server with it).
  Status Open(const std::string& path) {
    const char* dek = std::getenv("EVENTFUL_DEK");
    if (dek == nullptr || *dek == '\0') return Status::Err("set EVENTFUL_DEK to the store's data encryption key");
    env_ = storage::NewEncryptedEnv(storage::DeriveDataKey(dek));
    rocksdb::Options options;
    options.env = env_.get();
    options.info_log = storage::NewErrorOnlyLogger();
    options.create_if_missing = false;
    options.paranoid_checks = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (std::string_view name : storage::kCfNames) descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    Status s = FromRocks(rocksdb::DB::Open(options, path, descriptors, &handles_, &raw), "opening " + path);
    db_.reset(raw);
    return s;
  }

  rocksdb::DB* db() const { return db_.get(); }
  std::unique_ptr<rocksdb::Env> env_;  // outlives db_
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[static_cast<size_t>(c)]; }

  Status Get(Cf c, std::string_view key, std::string* value, std::string_view what) const {
    return FromRocks(db_->Get(rocksdb::ReadOptions(), cf(c), S(key), value), what);
  }

  Status Write(rocksdb::WriteBatch* batch) const {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, batch), "writing");
  }

  Status Stream(std::string_view name, storage::StreamState* out) const {
    std::string value;
    Status s = Get(Cf::kStreams, name, &value, "reading stream '" + std::string(name) + "'");
    if (!s.ok()) return s;
    if (!storage::DecodeStreamState(value, out)) return Status::Err("bad record for stream '" + std::string(name) + "'");
    return Status::Ok();
  }

  // The stored JSON of an event, parsed. Refuses an event that does not re-encode to exactly its
  // stored bytes, so that an edit made through Event changes nothing but what it means to.
  Status LoadEvent(uint64_t stream_id, uint64_t version, std::string* json, Event* e) const {
    Status s = Get(Cf::kEvents, storage::EventKey(stream_id, version), json,
                   "reading event " + std::to_string(version));
    if (!s.ok()) return s;
    std::string why;
    if (!storage::ParseEventJson(*json, e, &why)) return Status::Err("stored event is unreadable: " + why);
    if (storage::EventJson(*e) != *json) return Status::Err("stored event does not round-trip through EventJson");
    return Status::Ok();
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// Changes one character of a string to another of the same class, so the JSON stays valid and
// its length (and escaping) unchanged.
bool FlipOneChar(std::string* text) {
  for (char& c : *text) {
    if (c >= '0' && c <= '9') {
      c = c == '9' ? '0' : static_cast<char>(c + 1);
      return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      c = (c == 'z' || c == 'Z') ? static_cast<char>(c - 25) : static_cast<char>(c + 1);
      return true;
    }
  }
  return false;
}

Status FlipData(const Db& db, std::string_view stream, uint64_t version) {
  storage::StreamState st;
  std::string json;
  Event e;
  Status s = db.Stream(stream, &st);
  if (s.ok()) s = db.LoadEvent(st.id, version, &json, &e);
  if (!s.ok()) return s;
  bool flipped = false;
  if (e.data.is_string) {
    flipped = FlipOneChar(&e.data.text);
  } else {
    for (auto& [key, value] : e.data.fields) {
      if (value && FlipOneChar(&*value)) {
        flipped = true;
        break;
      }
    }
  }
  if (!flipped) return Status::Err("the event's data has no letter or digit to change");
  const std::string edited = storage::EventJson(e);
  size_t differing = 0;
  for (size_t i = 0; i < json.size() && i < edited.size(); ++i) differing += json[i] != edited[i] ? 1 : 0;
  if (edited.size() != json.size() || differing != 1) return Status::Err("internal: the edit is not one byte");
  rocksdb::WriteBatch batch;
  (void)batch.Put(db.cf(Cf::kEvents), storage::EventKey(st.id, version), edited);
  return db.Write(&batch);
}

// Recomputes a tree from leaf hashes: stores its interior nodes (levels >= kMinStoredMerkleLevel)
// under `tree` in `batch` and returns the frontier.
storage::Frontier RebuildTree(const Db& db, rocksdb::WriteBatch* batch, uint64_t tree, const std::vector<Hash>& leaves) {
  storage::Frontier f;
  for (const Hash& leaf : leaves) {
    f.Append(leaf, [&](int level, uint64_t index, const Hash& node) {
      if (level >= storage::kMinStoredMerkleLevel) {
        (void)batch->Put(db.cf(Cf::kMerkle), storage::MerkleKey(tree, level, index), HashBytes(node));
      }
    });
  }
  return f;
}

// Leaf hash of an event from its content (never its stored `hash` field).
Status ContentHash(std::string_view json, Hash* out) {
  Event e;
  std::string why;
  if (!storage::ParseEventJson(json, &e, &why)) return Status::Err("stored event is unreadable: " + why);
  *out = storage::ComputeEventHash(e);
  return Status::Ok();
}

// A consistent rewrite of every Merkle record from the stored content: each stream's frontier and
// stored nodes, the log frontier and the log's stored nodes. The tree shapes do not change, so
// overwriting the stored nodes replaces every one of them.
Status RehashAll(const Db& db, rocksdb::WriteBatch* batch) {
  std::unique_ptr<rocksdb::Iterator> st(db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(Cf::kStreams)));
  for (st->SeekToFirst(); st->Valid(); st->Next()) {
    storage::StreamState state;
    if (!storage::DecodeStreamState(std::string_view(st->value().data(), st->value().size()), &state)) {
      return Status::Err("bad record for stream '" + st->key().ToString() + "'");
    }
    std::vector<Hash> leaves;
    const std::string prefix = storage::U64Key(state.id);
    std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(Cf::kEvents)));
    for (it->Seek(S(prefix)); it->Valid() && it->key().starts_with(S(prefix)); it->Next()) {
      Hash h;
      Status s = ContentHash(std::string_view(it->value().data(), it->value().size()), &h);
      if (!s.ok()) return s;
      leaves.push_back(h);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading events");
    state.frontier = RebuildTree(db, batch, state.id, leaves);
    (void)batch->Put(db.cf(Cf::kStreams), st->key(), storage::EncodeStreamState(state));
  }
  if (!st->status().ok()) return FromRocks(st->status(), "reading streams");

  std::vector<Hash> leaves;
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(Cf::kLog)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // A log entry is the event key (16 bytes) then the event's leaf hash: both are rewritten.
    if (it->value().size() != storage::kLogValueSize) return Status::Err("bad log entry");
    const std::string key(it->value().data(), 16);
    std::string json;
    Status s = db.Get(Cf::kEvents, key, &json, "reading a log event");
    Hash h;
    if (s.ok()) s = ContentHash(json, &h);
    if (!s.ok()) return s;
    leaves.push_back(h);
    (void)batch->Put(db.cf(Cf::kLog), it->key(), key + HashBytes(h));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
  const storage::Frontier log = RebuildTree(db, batch, storage::kLogTreeId, leaves);
  (void)batch->Put(db.cf(Cf::kMeta), S(storage::kMetaLogFrontier), log.Encode());
  return Status::Ok();
}

Status EditEvent(const Db& db, std::string_view stream, uint64_t version, const std::string& field,
                 const std::string& value, bool rehash_event, bool rehash_all) {
  storage::StreamState st;
  std::string json;
  Event e;
  Status s = db.Stream(stream, &st);
  if (s.ok()) s = db.LoadEvent(st.id, version, &json, &e);
  if (!s.ok()) return s;
  if (e.data.is_string) return Status::Err("the event's data is a string, not an object");
  auto& fields = e.data.fields;
  auto at = fields.begin();
  while (at != fields.end() && at->first < field) ++at;
  if (at != fields.end() && at->first == field) {
    at->second = value;
  } else {
    fields.insert(at, {field, value});  // keeps the fields sorted, as stored
  }
  const std::string key = storage::EventKey(st.id, version);
  rocksdb::WriteBatch batch;
  if (rehash_event || rehash_all) {
    Hash old_hash;
    if (!storage::FromHex(e.hash, &old_hash)) return Status::Err("stored event has a bad hash field");
    const Hash new_hash = storage::ComputeEventHash(e);
    e.hash = storage::ToHex(new_hash);
    (void)batch.Delete(db.cf(Cf::kHashes), HashBytes(old_hash));
    (void)batch.Put(db.cf(Cf::kHashes), HashBytes(new_hash), key);
    (void)batch.Put(db.cf(Cf::kLog), storage::U64Key(e.position), key + HashBytes(new_hash));  // the log keeps it too
  }
  (void)batch.Put(db.cf(Cf::kEvents), key, storage::EventJson(e));
  if (rehash_all) {
    s = db.Write(&batch);  // the event first, so that the rehash reads its new content
    if (!s.ok()) return s;
    batch.Clear();
    s = RehashAll(db, &batch);
    if (!s.ok()) return s;
  }
  return db.Write(&batch);
}

Status DeleteLast(const Db& db, std::string_view stream) {
  storage::StreamState st;
  Status s = db.Stream(stream, &st);
  if (!s.ok()) return s;
  if (st.frontier.size == 0) return Status::Err("the stream is empty");
  rocksdb::WriteBatch batch;
  (void)batch.Delete(db.cf(Cf::kEvents), storage::EventKey(st.id, st.frontier.size));
  return db.Write(&batch);
}

Status Swap(const Db& db, std::string_view stream, uint64_t v1, uint64_t v2) {
  storage::StreamState st;
  std::string a, b;
  Status s = db.Stream(stream, &st);
  if (s.ok()) s = db.Get(Cf::kEvents, storage::EventKey(st.id, v1), &a, "reading event " + std::to_string(v1));
  if (s.ok()) s = db.Get(Cf::kEvents, storage::EventKey(st.id, v2), &b, "reading event " + std::to_string(v2));
  if (!s.ok()) return s;
  if (v1 == v2) return Status::Err("swap needs two different versions");
  rocksdb::WriteBatch batch;
  (void)batch.Put(db.cf(Cf::kEvents), storage::EventKey(st.id, v1), b);
  (void)batch.Put(db.cf(Cf::kEvents), storage::EventKey(st.id, v2), a);
  return db.Write(&batch);
}

Status SetNode(const Db& db, std::string_view tree_name, int level, uint64_t index) {
  uint64_t tree = storage::kLogTreeId;
  if (tree_name != "log") {
    storage::StreamState st;
    Status s = db.Stream(tree_name, &st);
    if (!s.ok()) return s;
    tree = st.id;
  }
  const std::string key = storage::MerkleKey(tree, level, index);
  std::string node;
  Status s = db.Get(Cf::kMerkle, key, &node, "reading node (" + std::to_string(level) + ", " + std::to_string(index) + ")");
  if (!s.ok()) return s;
  for (char& c : node) c = static_cast<char>(~static_cast<unsigned char>(c));
  rocksdb::WriteBatch batch;
  (void)batch.Put(db.cf(Cf::kMerkle), key, node);
  return db.Write(&batch);
}

// A stored snapshot (store_aggregate.cc): "state" changes one character of its state (its check no
// longer holds); "root" replaces its root and recomputes its check, as someone who knows the record
// format could (only the comparison with the stream's Merkle root catches that).
Status EditSnapshot(const Db& db, std::string_view stream, uint64_t version, std::string_view what) {
  storage::StreamState st;
  Status s = db.Stream(stream, &st);
  if (!s.ok()) return s;
  const std::string key = storage::EventKey(st.id, version);
  std::string json;
  s = db.Get(Cf::kSnapshots, key, &json, "reading the snapshot at version " + std::to_string(version));
  if (!s.ok()) return s;
  const size_t state_at = json.find("\"state\":{"), check_at = json.find(",\"check\":\"");
  const size_t root_at = json.find("\"root\":\"");
  if (state_at == std::string::npos || check_at == std::string::npos || root_at == std::string::npos) {
    return Status::Err("unexpected snapshot record");
  }
  if (what == "state") {
    const size_t value = json.find(":\"", state_at + 9);
    if (value == std::string::npos || value >= check_at) return Status::Err("the snapshot's state is empty");
    json[value + 2] = json[value + 2] == 'x' ? 'y' : 'x';
  } else {
    char& digit = json[root_at + 8];
    digit = digit == '0' ? '1' : '0';
    const std::string root = json.substr(root_at + 8, 64);
    const std::string state = json.substr(state_at + 8, check_at - state_at - 8);
    const std::string check =
        storage::ToHex(storage::Sha256("eventful snapshot v1|" + std::to_string(version) + "|" + root + "|" + state));
    json.replace(check_at + 10, 64, check);
  }
  rocksdb::WriteBatch batch;
  (void)batch.Put(db.cf(Cf::kSnapshots), key, json);
  return db.Write(&batch);
}

Status Compact(const Db& db) {
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    rocksdb::ColumnFamilyHandle* h = db.cf(static_cast<Cf>(i));
    Status s = FromRocks(db.db()->Flush(rocksdb::FlushOptions(), h), "flushing");
    if (s.ok()) {
      rocksdb::CompactRangeOptions co;
      co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      s = FromRocks(db.db()->CompactRange(co, h, nullptr, nullptr), "compacting");
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status SstFiles(const Db& db, std::string_view cf) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db.db()->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    if (f.column_family_name == cf) std::cout << f.directory << '/' << f.relative_filename << '\n';
  }
  return Status::Ok();
}

int Usage() {
  std::cerr << "usage: eventful_tamper flip-data <db> <stream> <version>\n"
               "       eventful_tamper edit-event <db> <stream> <version> <field> <value> [--rehash-event] [--rehash-all]\n"
               "       eventful_tamper delete-last <db> <stream>\n"
               "       eventful_tamper swap <db> <stream> <v1> <v2>\n"
               "       eventful_tamper set-node <db> <log|stream> <level> <index>\n"
               "       eventful_tamper snapshot <db> <stream> <version> <state|root>\n"
               "       eventful_tamper compact <db>\n"
               "       eventful_tamper sst-files <db> <cf>\n";
  return 2;
}

int Run(const std::vector<std::string>& args) {
  if (args.size() < 2) return Usage();
  const std::string& cmd = args[0];
  static const std::vector<std::string_view> kCommands = {"flip-data", "edit-event", "delete-last", "swap",
                                                          "set-node",  "compact",    "sst-files", "snapshot"};
  if (std::find(kCommands.begin(), kCommands.end(), cmd) == kCommands.end()) return Usage();
  auto number = [&](size_t i, uint64_t* out) { return i < args.size() && ParseU64(args[i], out); };
  uint64_t a = 0, b = 0;

  // Check the arguments before opening the store.
  if (cmd == "flip-data" && !(args.size() == 4 && number(3, &a))) return Usage();
  if (cmd == "delete-last" && args.size() != 3) return Usage();
  if (cmd == "swap" && !(args.size() == 5 && number(3, &a) && number(4, &b))) return Usage();
  if (cmd == "set-node" && !(args.size() == 5 && number(3, &a) && number(4, &b) && a < 64)) return Usage();
  if ((cmd == "compact" && args.size() != 2) || (cmd == "sst-files" && args.size() != 3)) return Usage();
  if (cmd == "snapshot" && !(args.size() == 5 && number(3, &a) && (args[4] == "state" || args[4] == "root"))) {
    return Usage();
  }
  bool rehash_event = false, rehash_all = false;
  if (cmd == "edit-event") {
    if (args.size() < 6 || !number(3, &a)) return Usage();
    for (size_t i = 6; i < args.size(); ++i) {
      if (args[i] == "--rehash-event") {
        rehash_event = true;
      } else if (args[i] == "--rehash-all") {
        rehash_all = true;
      } else {
        return Usage();
      }
    }
  }

  Db db;
  Status s = db.Open(args[1]);
  if (s.ok()) {
    if (cmd == "flip-data") {
      s = FlipData(db, args[2], a);
    } else if (cmd == "edit-event") {
      s = EditEvent(db, args[2], a, args[4], args[5], rehash_event, rehash_all);
    } else if (cmd == "delete-last") {
      s = DeleteLast(db, args[2]);
    } else if (cmd == "swap") {
      s = Swap(db, args[2], a, b);
    } else if (cmd == "set-node") {
      s = SetNode(db, args[2], static_cast<int>(a), b);
    } else if (cmd == "snapshot") {
      s = EditSnapshot(db, args[2], a, args[4]);
    } else if (cmd == "compact") {
      s = Compact(db);
    } else {
      s = SstFiles(db, args[2]);
    }
  }
  if (!s.ok()) {
    std::cerr << "eventful_tamper " << cmd << ": " << s.message() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace eventful::tamper

int main(int argc, char** argv) {
  return eventful::tamper::Run(std::vector<std::string>(argv + 1, argv + argc));
}
