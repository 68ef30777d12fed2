// PROOF, CONSISTENCY and TREEHEAD: inclusion and consistency proofs and tree heads for a stream's
// tree or the global log's tree, read from the stored nodes in O(log n) (merkle_proof.h).
//
// Leaves come from the events' stored `hash` (stream trees) or the log entries (log tree); nodes of level >=
// kMinStoredMerkleLevel from the merkle column family. Everything a proof for tree size n reads was
// committed before n became visible and never changes afterwards, so no snapshot is needed.
#include <rocksdb/db.h>

#include "storage/codec.h"
#include "storage/event.h"
#include "storage/merkle_proof.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

Status LeafOf(const std::string& event_json, Hash* out) {
  if (!StoredEventHash(event_json, out)) return Status::Err("storage corruption: a stored event has no readable hash");
  return Status::Ok();
}

class TreeReaderBase : public TreeReader {
 public:
  TreeReaderBase(StoreImpl& impl, uint64_t tree) : impl_(impl), tree_(tree) {}

  Status Node(int level, uint64_t index, Hash* out) override {
    std::string value;
    rocksdb::Status s = impl_.db()->Get(rocksdb::ReadOptions(), impl_.cf(Cf::kMerkle), S(MerkleKey(tree_, level, index)), &value);
    if (s.IsNotFound() || (s.ok() && value.size() != out->size())) {
      return Status::Err("storage corruption: Merkle node (level " + std::to_string(level) + ", index " +
                         std::to_string(index) + ") is missing");
    }
    if (!s.ok()) return FromRocks(s, "reading a Merkle node");
    std::copy(value.begin(), value.end(), out->begin());
    return Status::Ok();
  }

 protected:
  StoreImpl& impl_;
  const uint64_t tree_;
};

// A stream's tree: leaf i is the event at version i + 1.
class StreamTreeReader : public TreeReaderBase {
 public:
  using TreeReaderBase::TreeReaderBase;

  Status Leaves(uint64_t start, uint64_t count, std::vector<Hash>* out) override {
    out->assign(count, Hash{});
    std::vector<EventRef> cached;
    if (impl_.cache_.FindRange(tree_, start + 1, count, 1, &cached)) {
      for (uint64_t i = 0; i < count; ++i) {
        Status s = LeafOf(*cached[i], &(*out)[i]);
        if (!s.ok()) return s;
      }
      return Status::Ok();
    }
    auto it = std::make_unique<EventsIterator>(impl_.db(), rocksdb::ReadOptions(), impl_.cf(Cf::kEvents),
                                               impl_.cf(Cf::kArchive));
    uint64_t i = 0;
    for (it->Seek(S(EventKey(tree_, start + 1))); it->Valid() && i < count; it->Next(), ++i) {
      if (it->key() != S(EventKey(tree_, start + 1 + i))) break;
      Status s = LeafOf(it->value().ToString(), &(*out)[i]);
      if (!s.ok()) return s;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading events for a proof");
    if (i != count) return Status::Err("storage corruption: the stream is missing version " + std::to_string(start + 1 + i));
    return Status::Ok();
  }
};

// The global log's tree: leaf i is the hash kept in the log entry of position i + 1.
class LogTreeReader : public TreeReaderBase {
 public:
  explicit LogTreeReader(StoreImpl& impl) : TreeReaderBase(impl, kLogTreeId) {}

  Status Leaves(uint64_t start, uint64_t count, std::vector<Hash>* out) override {
    out->assign(count, Hash{});
    std::unique_ptr<rocksdb::Iterator> it(impl_.db()->NewIterator(rocksdb::ReadOptions(), impl_.cf(Cf::kLog)));
    uint64_t i = 0;
    for (it->Seek(S(U64Key(start + 1))); it->Valid() && i < count; it->Next(), ++i) {
      const rocksdb::Slice v = it->value();
      if (it->key() != S(U64Key(start + 1 + i)) || v.size() != kLogValueSize) break;
      std::copy(v.data() + 16, v.data() + kLogValueSize, reinterpret_cast<char*>((*out)[i].data()));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the log for a proof");
    if (i != count) return Status::Err("storage corruption: the log is missing position " + std::to_string(start + 1 + i));
    return Status::Ok();
  }
};

// The tree a request names: a stream (ERR no such stream when it has no events) or the log.
struct Tree {
  std::unique_ptr<TreeReader> reader;
  uint64_t size = 0;
  Hash root{};
  const char* leaf_name = "position";
};

Status OpenTree(StoreImpl& impl, const std::optional<std::string>& stream, Tree* out) {
  if (stream) {
    std::optional<StreamState> st;
    Status s = impl.LookupStream(*stream, &st);
    if (!s.ok()) return s;
    if (!st || st->frontier.size == 0) return Status::Err("no such stream");
    out->reader = std::make_unique<StreamTreeReader>(impl, st->id);
    out->size = st->frontier.size;
    out->root = st->frontier.Root();
    out->leaf_name = "version";
    return Status::Ok();
  }
  std::shared_lock lock(impl.state_mu_);
  out->reader = std::make_unique<LogTreeReader>(impl);
  out->size = impl.log_.size;
  out->root = impl.log_.Root();
  return Status::Ok();
}

// The root of the first `size` leaves: the recorded root for the current size (checked against
// the stored nodes, so that a proof is never built from nodes that disagree with it).
Status RootAt(MerkleProver& prover, const Tree& tree, uint64_t size, Hash* out) {
  Status s = prover.SubtreeHash(0, size, out);
  if (!s.ok()) return s;
  if (size == tree.size && *out != tree.root) {
    return Status::Err("storage corruption: the stored Merkle nodes do not match the recorded root");
  }
  return Status::Ok();
}

Status CheckTreeSize(const Tree& tree, std::optional<uint64_t> requested, uint64_t* size) {
  *size = requested.value_or(tree.size);
  if (*size == 0 || *size > tree.size) {
    return Status::Err("'tree_size' must be between 1 and the current size " + std::to_string(tree.size));
  }
  return Status::Ok();
}

}  // namespace

Status Store::ProveInclusion(const std::optional<std::string>& stream, uint64_t leaf, std::optional<uint64_t> tree_size,
                             InclusionProof* out) {
  Tree tree;
  Status s = OpenTree(*impl_, stream, &tree);
  if (!s.ok()) return s;
  if (leaf == 0 || leaf > tree.size) {
    return Status::Err(std::string("'") + tree.leaf_name + "' must be between 1 and " + std::to_string(tree.size));
  }
  uint64_t size = 0;
  s = CheckTreeSize(tree, tree_size, &size);
  if (!s.ok()) return s;
  if (leaf > size) return Status::Err(std::string("'tree_size' must be at least the ") + tree.leaf_name);
  MerkleProver prover(*tree.reader, kMinStoredMerkleLevel, size);
  *out = InclusionProof{};
  out->leaf_index = leaf - 1;
  out->tree_size = size;
  s = prover.LeafAt(leaf - 1, &out->leaf_hash);
  if (s.ok()) s = prover.InclusionPath(leaf - 1, size, &out->path);
  if (s.ok()) s = RootAt(prover, tree, size, &out->root);
  return s;
}

Status Store::ProveConsistency(const std::optional<std::string>& stream, uint64_t from, std::optional<uint64_t> to,
                               ConsistencyProof* out) {
  Tree tree;
  Status s = OpenTree(*impl_, stream, &tree);
  if (!s.ok()) return s;
  const uint64_t n = to.value_or(tree.size);
  if (from == 0 || from > n || n > tree.size) {
    return Status::Err("need 1 <= from <= to <= size (the size is " + std::to_string(tree.size) + ")");
  }
  MerkleProver prover(*tree.reader, kMinStoredMerkleLevel, n);
  *out = ConsistencyProof{};
  out->from = from;
  out->to = n;
  s = prover.ConsistencyPath(from, n, &out->path);
  if (s.ok()) s = RootAt(prover, tree, from, &out->from_root);
  if (s.ok()) s = RootAt(prover, tree, n, &out->to_root);
  return s;
}

Status StreamRootAt(StoreImpl& impl, uint64_t stream_id, uint64_t size, Hash* out) {
  if (size == 0) {
    *out = EmptyTreeHash();
    return Status::Ok();
  }
  StreamTreeReader reader(impl, stream_id);
  MerkleProver prover(reader, kMinStoredMerkleLevel, size);
  return prover.SubtreeHash(0, size, out);
}

Status Store::GetTreeHead(const std::optional<std::string>& stream, TreeHead* out) {
  Tree tree;
  Status s = OpenTree(*impl_, stream, &tree);
  if (!s.ok()) return s;
  out->tree_size = tree.size;
  out->root = tree.root;
  return Status::Ok();
}

}  // namespace eventful::storage
