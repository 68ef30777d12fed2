// Client-side checks of what the integrity commands return (INTEGRITY.md, PROTOCOL.md §6/§8):
// RFC 9162 inclusion and consistency proofs, and the Ed25519 signature of a tree head.
//
// Written from RFC 9162 §2.1.3.2 and §2.1.4.2, independently of the server's proof generation,
// so that `eventful proof` / `eventful consistency` do not trust the code they check. Hashes are
// raw 32-byte values (storage/hash.h); interior nodes are SHA-256(0x01 || left || right).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storage/hash.h"

namespace eventful::cli {

using storage::Hash;

// RFC 9162 §2.1.3.2: true when `path` proves that `leaf_hash` is leaf number `leaf_index`
// (0-based) of the tree of `tree_size` leaves whose root is `root`.
bool VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                     std::span<const Hash> path, const Hash& root);

// RFC 9162 §2.1.4.2: true when `path` proves that the tree of `from` leaves with root `from_root`
// is a prefix of the tree of `to` leaves with root `to_root` (1 <= from <= to). For from == to
// the proof is empty and the roots must be equal.
bool VerifyConsistency(uint64_t from, uint64_t to, const Hash& from_root, const Hash& to_root,
                       std::span<const Hash> path);

// A TREEHEAD reply (PROTOCOL.md §8 "Integrity commands"); hex fields as sent.
struct TreeHead {
  std::optional<std::string> stream;  // absent for the global log
  uint64_t tree_size = 0;
  std::string root;        // 64 hex
  std::string timestamp;   // YYYY-MM-DDTHH:MM:SS.mmmZ
  std::string key_id;      // first 16 hex of SHA-256(raw public key)
  std::string public_key;  // raw 32-byte Ed25519 key, hex
  std::string signature;   // 64-byte Ed25519 signature, hex
};

// The signed message: JCS of {"root","stream"?,"timestamp","tree_size"}.
std::string TreeHeadMessage(const TreeHead& head);

// The key id of a raw public key given in hex: first 16 hex characters of its SHA-256, or "" when
// `public_key_hex` is not 64 hex characters.
std::string KeyIdOf(std::string_view public_key_hex);

// Checks that key_id belongs to public_key and that signature is a valid Ed25519 signature of
// TreeHeadMessage(head) under public_key. On failure *why says what is wrong.
bool VerifyTreeHeadSignature(const TreeHead& head, std::string* why);

}  // namespace eventful::cli
