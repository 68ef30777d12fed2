// The server's Ed25519 tree-head signing key (INTEGRITY.md "Signed tree heads").
//
// `eventful config` creates the key pair. config.toml keeps the public key (hex) and the private
// key sealed with AES-256-GCM under a key derived from the DEK, so a copy of the data directory
// without the DEK cannot sign tree heads. The server unseals it at start.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/status.h"

namespace eventful::server {

struct TreeheadKey {
  std::string public_hex;               // raw 32-byte public key, lowercase hex
  std::array<uint8_t, 32> private_raw{};  // raw Ed25519 private key (seed)
};

// Creates a fresh key pair: *public_hex and *sealed ("aes256gcm$<base64url nonce|ciphertext|tag>").
Status GenerateTreeheadKey(std::string_view dek, std::string* public_hex, std::string* sealed);
// Unseals with the DEK and checks that the private key matches `public_hex`.
Status OpenTreeheadKey(std::string_view sealed, std::string_view public_hex, std::string_view dek, TreeheadKey* out);
// Seals an existing private key with `dek` (a DEK rotation keeps the key, and so its public key).
Status SealTreeheadKey(std::string_view dek, const std::array<uint8_t, 32>& private_raw, std::string* sealed);
// Ed25519 signature (64 bytes, lowercase hex) of `message`.
Status SignHex(const TreeheadKey& key, std::string_view message, std::string* signature_hex);

}  // namespace eventful::server
