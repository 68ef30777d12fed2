// SHA-256 and the RFC 6962 leaf/node hash functions (OpenSSL EVP underneath).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace eventful::storage {

using Hash = std::array<uint8_t, 32>;

Hash Sha256(std::string_view data);
Hash LeafHash(std::string_view canonical);        // SHA-256(0x00 || canonical)
Hash NodeHash(const Hash& left, const Hash& right); // SHA-256(0x01 || left || right)
Hash EmptyTreeHash();                              // SHA-256("")

std::string ToHex(const Hash& h);                  // 64 lowercase hex characters
bool FromHex(std::string_view hex, Hash* out);     // exactly 64 hex characters (either case)

}  // namespace eventful::storage
