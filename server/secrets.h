// Secrets: generation, salted check values, constant-time comparison.
#pragma once

#include <string>
#include <string_view>
#include <cstddef>
#include <optional>
#include <vector>

namespace eventful::server {

// prefix + 43 base64url characters (32 random bytes from OpenSSL RAND_bytes).
std::string GenerateSecret(std::string_view prefix);
// base64url without padding; decoding is strict (no padding, no stray bits in the last character).
std::string Base64Url(const unsigned char* data, std::size_t n);
std::optional<std::vector<unsigned char>> DecodeBase64Url(std::string_view s);
// "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>" with a fresh 16-byte salt.
std::string MakeSecretCheck(std::string_view secret);
// Recomputes and compares in constant time (CRYPTO_memcmp). False for a malformed check value.
bool VerifySecretCheck(std::string_view check, std::string_view secret);

}  // namespace eventful::server
