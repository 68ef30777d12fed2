// Big-endian integer encoding for RocksDB keys, so that byte order equals numeric order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eventful::storage {

inline void PutU64BE(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(b, 8);
}

// Reads 8 bytes at `p`; the caller guarantees they exist.
inline uint64_t GetU64BE(std::string_view p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline std::string U64Key(uint64_t v) {
  std::string k;
  PutU64BE(&k, v);
  return k;
}

}  // namespace eventful::storage
