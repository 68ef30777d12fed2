// RFC 6962 Merkle trees: the incremental frontier and the recursive reference MTH.
//
// Frontier encoding (value of the frontier records in RocksDB):
//
//   frontier := size:u64 big-endian, peak[popcount(size)]
//   peak     := 32 raw bytes, leftmost (largest) subtree first
#include "storage/merkle.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "storage/codec.h"

namespace eventful::storage {

void Frontier::Append(const Hash& leaf, const EmitFn& emit) {
  // Binary increment: every trailing 1 bit of `size` is a peak of the same size as the carry,
  // and merges with it into a perfect subtree one level up.
  Hash node = leaf;
  uint64_t index = size;  // index of the new node at its level
  int level = 0;
  if (emit) emit(level, index, node);
  for (uint64_t s = size; (s & 1) != 0 && !peaks.empty(); s >>= 1) {
    node = NodeHash(peaks.back(), node);
    peaks.pop_back();
    ++level;
    index >>= 1;
    if (emit) emit(level, index, node);
  }
  peaks.push_back(node);
  ++size;
}

Hash Frontier::Root() const {
  if (peaks.empty()) return EmptyTreeHash();
  Hash acc = peaks.back();
  for (size_t i = peaks.size() - 1; i-- > 0;) acc = NodeHash(peaks[i], acc);
  return acc;
}

std::string Frontier::Encode() const {
  std::string out;
  out.reserve(8 + peaks.size() * sizeof(Hash));
  PutU64BE(&out, size);
  for (const Hash& p : peaks) out.append(reinterpret_cast<const char*>(p.data()), p.size());
  return out;
}

bool Frontier::Decode(std::string_view in, Frontier* out) {
  if (in.size() < 8) return false;
  const uint64_t size = GetU64BE(in);
  const size_t count = static_cast<size_t>(std::popcount(size));
  if (in.size() != 8 + count * sizeof(Hash)) return false;
  Frontier f;
  f.size = size;
  f.peaks.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const char* p = in.data() + 8 + i * sizeof(Hash);
    std::copy(p, p + sizeof(Hash), reinterpret_cast<char*>(f.peaks[i].data()));
  }
  *out = std::move(f);
  return true;
}

Hash MerkleRoot(std::span<const Hash> leaves) {
  const size_t n = leaves.size();
  if (n == 0) return EmptyTreeHash();
  if (n == 1) return leaves[0];
  const size_t k = std::bit_floor(n - 1);  // largest power of two < n
  return NodeHash(MerkleRoot(leaves.first(k)), MerkleRoot(leaves.subspan(k)));
}

}  // namespace eventful::storage
