// RFC 6962 / RFC 9162 proof generation over a stored tree, in O(log n) reads.
//
// A tree is read through a TreeReader: leaf hashes in aligned blocks of 2^stored_level leaves, and
// the stored perfect-subtree nodes of level >= stored_level (the store keeps exactly those, see
// column_families.h). Any subtree hash MTH(D[start:end]) that a proof needs is then either one
// stored node, a fold of at most one block of leaves, or the fold of O(log n) of those along the
// right edge — never a rehash of the whole tree.
//
// Definitions follow RFC 6962 §2.1 (MTH, PATH, SUBPROOF); leaf indexes are 0-based.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "storage/hash.h"
#include "storage/status.h"

namespace eventful::storage {

class TreeReader {
 public:
  virtual ~TreeReader() = default;
  // Leaf hashes [start, start + count), all of which exist.
  virtual Status Leaves(uint64_t start, uint64_t count, std::vector<Hash>* out) = 0;
  // The stored node (level, index) covering leaves [index << level, (index + 1) << level).
  virtual Status Node(int level, uint64_t index, Hash* out) = 0;
};

// One proof computation over a tree whose first `limit` leaves exist. Caches the leaf blocks it
// reads, so a proof reads each block at most once. Not thread-safe; use one per request.
class MerkleProver {
 public:
  MerkleProver(TreeReader& reader, int stored_level, uint64_t limit)
      : reader_(reader), stored_level_(stored_level), limit_(limit) {}

  // MTH(D[start:end]), 0 <= start < end <= limit. Callers pass ranges of the RFC recursion:
  // `start` is a multiple of bit_ceil(end - start).
  Status SubtreeHash(uint64_t start, uint64_t end, Hash* out);
  // RFC 6962 PATH(index, D[0:size]): the audit path, deepest sibling first.
  Status InclusionPath(uint64_t index, uint64_t size, std::vector<Hash>* path);
  // RFC 6962 PROOF(m, D[0:n]) for 0 < m <= n: the consistency proof (empty when m == n).
  Status ConsistencyPath(uint64_t m, uint64_t n, std::vector<Hash>* path);
  // The hash of leaf `index`.
  Status LeafAt(uint64_t index, Hash* out);

 private:
  Status Block(uint64_t block, const std::vector<Hash>** out);
  Status SubProof(uint64_t m, uint64_t start, uint64_t end, bool complete, std::vector<Hash>* path);

  TreeReader& reader_;
  const int stored_level_;
  const uint64_t limit_;
  std::map<uint64_t, std::vector<Hash>> blocks_;  // block number -> its leaf hashes
};

}  // namespace eventful::storage
