// MerkleProver against the RFC 6962 definitions, over an in-memory tree that keeps exactly what the
// store keeps (leaves, and nodes of level >= 4), counting reads to hold the O(log n) promise.
#include <doctest/doctest.h>

#include <bit>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "storage/merkle.h"
#include "storage/merkle_proof.h"

using eventful::Status;
using eventful::storage::Frontier;
using eventful::storage::Hash;
using eventful::storage::LeafHash;
using eventful::storage::MerkleProver;
using eventful::storage::MerkleRoot;
using eventful::storage::NodeHash;
using eventful::storage::TreeReader;

namespace {

constexpr int kStoredLevel = 4;

class MemoryTree : public TreeReader {
 public:
  explicit MemoryTree(uint64_t n) {
    Frontier f;
    for (uint64_t i = 0; i < n; ++i) {
      leaves.push_back(LeafHash("leaf " + std::to_string(i)));
      f.Append(leaves.back(), [&](int level, uint64_t index, const Hash& node) {
        if (level >= kStoredLevel) nodes[{level, index}] = node;
      });
    }
  }
  Status Leaves(uint64_t start, uint64_t count, std::vector<Hash>* out) override {
    ++leaf_reads;
    if (start + count > leaves.size()) return Status::Err("leaves out of range");
    out->assign(leaves.begin() + start, leaves.begin() + start + count);
    return Status::Ok();
  }
  Status Node(int level, uint64_t index, Hash* out) override {
    ++node_reads;
    auto it = nodes.find({level, index});
    if (it == nodes.end()) return Status::Err("node not stored");
    *out = it->second;
    return Status::Ok();
  }

  std::vector<Hash> leaves;
  std::map<std::pair<int, uint64_t>, Hash> nodes;
  int leaf_reads = 0;
  int node_reads = 0;
};

// RFC 6962 §2.1.1 PATH and §2.1.2 SUBPROOF, straight from the recursive definitions.
std::vector<Hash> RefPath(uint64_t m, std::span<const Hash> d) {
  if (d.size() <= 1) return {};
  const uint64_t k = std::bit_floor(d.size() - 1);
  std::vector<Hash> out;
  if (m < k) {
    out = RefPath(m, d.first(k));
    out.push_back(MerkleRoot(d.subspan(k)));
  } else {
    out = RefPath(m - k, d.subspan(k));
    out.push_back(MerkleRoot(d.first(k)));
  }
  return out;
}

std::vector<Hash> RefSubproof(uint64_t m, std::span<const Hash> d, bool b) {
  const uint64_t n = d.size();
  if (m == n) return b ? std::vector<Hash>{} : std::vector<Hash>{MerkleRoot(d)};
  const uint64_t k = std::bit_floor(n - 1);
  std::vector<Hash> out;
  if (m <= k) {
    out = RefSubproof(m, d.first(k), b);
    out.push_back(MerkleRoot(d.subspan(k)));
  } else {
    out = RefSubproof(m - k, d.subspan(k), false);
    out.push_back(MerkleRoot(d.first(k)));
  }
  return out;
}

}  // namespace

TEST_CASE("merkle prover subtree hashes equal the reference MTH for every prefix up to 100") {
  MemoryTree tree(100);
  for (uint64_t n = 1; n <= 100; ++n) {
    MerkleProver prover(tree, kStoredLevel, n);
    Hash root;
    REQUIRE(prover.SubtreeHash(0, n, &root).ok());
    CHECK_MESSAGE(root == MerkleRoot(std::span<const Hash>(tree.leaves).first(n)), "n = " << n);
  }
}

TEST_CASE("merkle prover inclusion paths equal RFC 6962 PATH for every leaf of trees of 1..70") {
  MemoryTree tree(70);
  for (uint64_t n = 1; n <= 70; ++n) {
    const auto d = std::span<const Hash>(tree.leaves).first(n);
    for (uint64_t m = 0; m < n; ++m) {
      MerkleProver prover(tree, kStoredLevel, n);
      std::vector<Hash> path;
      REQUIRE(prover.InclusionPath(m, n, &path).ok());
      CHECK_MESSAGE(path == RefPath(m, d), "m = " << m << ", n = " << n);
      Hash leaf;
      REQUIRE(prover.LeafAt(m, &leaf).ok());
      CHECK(leaf == tree.leaves[m]);
    }
  }
}

TEST_CASE("merkle prover consistency proofs equal RFC 6962 PROOF for every pair up to 70") {
  MemoryTree tree(70);
  for (uint64_t n = 1; n <= 70; ++n) {
    const auto d = std::span<const Hash>(tree.leaves).first(n);
    for (uint64_t m = 1; m <= n; ++m) {
      MerkleProver prover(tree, kStoredLevel, n);
      std::vector<Hash> path;
      REQUIRE(prover.ConsistencyPath(m, n, &path).ok());
      CHECK_MESSAGE(path == RefSubproof(m, d, true), "m = " << m << ", n = " << n);
    }
  }
}

TEST_CASE("merkle prover rejects out-of-range indexes and sizes") {
  MemoryTree tree(10);
  MerkleProver prover(tree, kStoredLevel, 10);
  std::vector<Hash> path;
  CHECK_FALSE(prover.InclusionPath(10, 10, &path).ok());
  CHECK_FALSE(prover.InclusionPath(0, 11, &path).ok());
  CHECK_FALSE(prover.InclusionPath(0, 0, &path).ok());
  CHECK_FALSE(prover.ConsistencyPath(0, 5, &path).ok());
  CHECK_FALSE(prover.ConsistencyPath(6, 5, &path).ok());
  CHECK_FALSE(prover.ConsistencyPath(1, 11, &path).ok());
}

TEST_CASE("merkle prover reads O(log n) nodes and at most two leaf blocks for a proof in a big tree") {
  const uint64_t n = 100003;  // not a power of two: the right edge is ragged at every level
  MemoryTree tree(n);
  for (uint64_t m : {uint64_t{0}, uint64_t{77}, n / 2, n - 5, n - 1}) {
    tree.leaf_reads = tree.node_reads = 0;
    MerkleProver prover(tree, kStoredLevel, n);
    std::vector<Hash> path;
    REQUIRE(prover.InclusionPath(m, n, &path).ok());
    CHECK(tree.leaf_reads <= 2);
    CHECK(tree.node_reads <= 2 * 17);
    CHECK(path.size() <= 17);
  }
  for (uint64_t m : {uint64_t{1}, uint64_t{1000}, uint64_t{65536}, n - 1}) {
    tree.leaf_reads = tree.node_reads = 0;
    MerkleProver prover(tree, kStoredLevel, n);
    std::vector<Hash> path;
    REQUIRE(prover.ConsistencyPath(m, n, &path).ok());
    CHECK(tree.leaf_reads <= 3);
    CHECK(tree.node_reads <= 3 * 17);
  }
}

TEST_CASE("merkle prover reports a missing stored node instead of inventing one") {
  MemoryTree tree(64);
  tree.nodes.erase({4, 1});
  MerkleProver prover(tree, kStoredLevel, 64);
  std::vector<Hash> path;
  CHECK_FALSE(prover.InclusionPath(0, 64, &path).ok());
}
