// RFC 6962 PATH and SUBPROOF over stored nodes and leaf blocks (merkle_proof.h).
#include "storage/merkle_proof.h"

#include <algorithm>
#include <bit>
#include <span>
#include <string>

#include "storage/merkle.h"

namespace eventful::storage {

Status MerkleProver::Block(uint64_t block, const std::vector<Hash>** out) {
  auto it = blocks_.find(block);
  if (it == blocks_.end()) {
    const uint64_t start = block << stored_level_;
    const uint64_t count = std::min<uint64_t>(uint64_t{1} << stored_level_, limit_ - start);
    std::vector<Hash> leaves;
    Status s = reader_.Leaves(start, count, &leaves);
    if (!s.ok()) return s;
    if (leaves.size() != count) return Status::Err("storage corruption: a leaf block is incomplete");
    it = blocks_.emplace(block, std::move(leaves)).first;
  }
  *out = &it->second;
  return Status::Ok();
}

Status MerkleProver::LeafAt(uint64_t index, Hash* out) {
  if (index >= limit_) return Status::Err("leaf index out of range");
  const std::vector<Hash>* leaves = nullptr;
  Status s = Block(index >> stored_level_, &leaves);
  if (!s.ok()) return s;
  *out = (*leaves)[index & ((uint64_t{1} << stored_level_) - 1)];
  return Status::Ok();
}

Status MerkleProver::SubtreeHash(uint64_t start, uint64_t end, Hash* out) {
  if (start >= end || end > limit_) return Status::Err("subtree out of range");
  const uint64_t n = end - start;
  const uint64_t block_size = uint64_t{1} << stored_level_;
  if (std::has_single_bit(n) && n >= block_size && start % n == 0) {
    return reader_.Node(std::countr_zero(n), start / n, out);
  }
  if (n <= block_size && start / block_size == (end - 1) / block_size) {
    const std::vector<Hash>* leaves = nullptr;
    Status s = Block(start / block_size, &leaves);
    if (!s.ok()) return s;
    const uint64_t offset = start % block_size;
    *out = MerkleRoot(std::span<const Hash>(*leaves).subspan(offset, n));
    return Status::Ok();
  }
  const uint64_t k = std::bit_floor(n - 1);
  Hash left, right;
  Status s = SubtreeHash(start, start + k, &left);
  if (s.ok()) s = SubtreeHash(start + k, end, &right);
  if (!s.ok()) return s;
  *out = NodeHash(left, right);
  return Status::Ok();
}

Status MerkleProver::InclusionPath(uint64_t index, uint64_t size, std::vector<Hash>* path) {
  path->clear();
  if (size == 0 || size > limit_ || index >= size) return Status::Err("leaf index out of range");
  // Iterative PATH: descend from the root, remembering the sibling of each step; the RFC lists
  // them deepest first, so they are reversed at the end.
  uint64_t start = 0, end = size;
  while (end - start > 1) {
    const uint64_t k = std::bit_floor(end - start - 1);
    Hash sibling;
    Status s = index < start + k ? SubtreeHash(start + k, end, &sibling) : SubtreeHash(start, start + k, &sibling);
    if (!s.ok()) return s;
    path->push_back(sibling);
    if (index < start + k) {
      end = start + k;
    } else {
      start += k;
    }
  }
  std::reverse(path->begin(), path->end());
  return Status::Ok();
}

Status MerkleProver::SubProof(uint64_t m, uint64_t start, uint64_t end, bool complete, std::vector<Hash>* path) {
  const uint64_t n = end - start;
  if (m == n) {
    if (complete) return Status::Ok();
    Hash h;
    Status s = SubtreeHash(start, end, &h);
    if (s.ok()) path->push_back(h);
    return s;
  }
  const uint64_t k = std::bit_floor(n - 1);
  Hash h;
  Status s;
  if (m <= k) {
    s = SubProof(m, start, start + k, complete, path);
    if (s.ok()) s = SubtreeHash(start + k, end, &h);
  } else {
    s = SubProof(m - k, start + k, end, false, path);
    if (s.ok()) s = SubtreeHash(start, start + k, &h);
  }
  if (s.ok()) path->push_back(h);
  return s;
}

Status MerkleProver::ConsistencyPath(uint64_t m, uint64_t n, std::vector<Hash>* path) {
  path->clear();
  if (m == 0 || m > n || n > limit_) return Status::Err("consistency sizes out of range");
  return SubProof(m, 0, n, true, path);
}

}  // namespace eventful::storage
