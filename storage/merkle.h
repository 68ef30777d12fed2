// Incremental RFC 6962 Merkle tree state: the right-edge frontier.
//
// For a tree of `size` leaves, `peaks` holds the roots of the perfect subtrees of size's binary
// decomposition, leftmost (largest) first — popcount(size) hashes. Appending a leaf is O(log n);
// the root is the right-to-left fold of the peaks with NodeHash. Every perfect subtree completed by
// an append is reported through `emit`, so that the store can keep the interior nodes that proofs
// need (node (level, index) covers leaves [index*2^level, (index+1)*2^level)).
//
// Encoded form (stored in RocksDB): u64 BE size, then popcount(size) raw 32-byte peaks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/hash.h"

namespace eventful::storage {

struct Frontier {
  uint64_t size = 0;
  std::vector<Hash> peaks;

  using EmitFn = std::function<void(int level, uint64_t index, const Hash& node)>;
  // Adds one leaf hash. `emit` (may be null) is called for the leaf itself (level 0) and for every
  // perfect subtree node the append completes, bottom-up.
  void Append(const Hash& leaf, const EmitFn& emit = nullptr);
  // RFC 6962 Merkle Tree Hash of the current leaves; EmptyTreeHash() when size == 0.
  Hash Root() const;

  std::string Encode() const;
  static bool Decode(std::string_view in, Frontier* out);
};

// Reference MTH over a list of leaf hashes (recursive definition of RFC 6962 §2.1). Used by
// VERIFY, which must never trust stored intermediate state, and by tests.
Hash MerkleRoot(std::span<const Hash> leaves);

}  // namespace eventful::storage
