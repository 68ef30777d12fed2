// Secrets: generation, salted check values, constant-time comparison.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <cstddef>
#include <optional>
#include <vector>

#include "storage/status.h"

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

// A 32-byte key kept in config.toml sealed with AES-256-GCM under HMAC-SHA256(dek, label)
// ("aes256gcm$<base64url nonce|ciphertext|tag>"). Unsealing fails for a wrong DEK or an edit.
using Key32 = std::array<uint8_t, 32>;
Status SealKey(std::string_view dek, std::string_view label, const Key32& raw, std::string* sealed);
Status UnsealKey(std::string_view sealed, std::string_view dek, std::string_view label, Key32* raw);

}  // namespace eventful::server
