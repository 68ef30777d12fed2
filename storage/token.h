// Auth keys and access tokens: their records, their permissions, and the in-memory table the
// store keeps of them (docs/security.md).
//
// A record is stored in the `tokens` column family under its id, as JSON (EncodeToken). Secrets
// are never stored: only `secret_hash`, a keyed hash (HMAC-SHA256 under a key derived from the
// DEK, which is not in the data directory) of the secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/names.h"

namespace eventful::storage {

struct Permissions {
  std::vector<std::string> read;   // stream patterns (names.h)
  std::vector<std::string> write;  // stream patterns
  bool admin = false;

  // Whether `stream` matches one of the read / write patterns. Admin rights read everything
  // (system streams included) but write only what `write` allows.
  bool CanRead(std::string_view stream) const;
  bool CanWrite(std::string_view stream) const;
  // Reads every non-system stream: some read pattern is ">" (or admin).
  bool ReadsAll() const;
  // Every right of `other` is one of ours: each of its patterns is matched by one of ours
  // (pattern inclusion, decided conservatively), and admin only if we are admin.
  bool Covers(const Permissions& other) const;
  bool operator==(const Permissions&) const = default;
};

// Appends {"read":[…],"write":[…],"admin":b} to *out.
void AppendPermissionsJson(std::string* out, const Permissions& p);

struct TokenRecord {
  enum class Kind { kAuthKey, kToken };
  Kind kind = Kind::kToken;
  std::string id;               // "key_<ulid>" / "tok_<ulid>"
  std::string name;             // auth keys: unique name
  std::string identifier_type;  // tokens: whose token ("npi")
  std::string identifier_id;    // tokens: "1234567"
  Permissions permissions;
  int64_t expires_at_ms = 0;    // 0 = never (auth keys)
  uint64_t limit = 0;           // tokens: writes allowed
  uint64_t writes_used = 0;
  std::string minted_by;        // auth key name, or "master"
  std::string minted_by_id;     // the minting auth key's id, or "" for the master key
  bool revoked = false;
  int64_t created_at_ms = 0;
  std::string secret_hash;      // hex HMAC of the secret

  // The actor recorded on the events this identity writes: "npi:1234567" for a token,
  // "key:patient-app" for an auth key.
  std::string Actor() const;
  bool Expired(int64_t now_ms) const { return expires_at_ms != 0 && now_ms >= expires_at_ms; }
};

std::string EncodeToken(const TokenRecord& t);
bool DecodeToken(std::string_view json, TokenRecord* out);
// The public view (no secret hash): TOKEN:LIST, TOKEN:INFO, $audit events.
std::string TokenPublicJson(const TokenRecord& t);

// The token table: records by id, plus lookups by secret hash and by auth key name.
// Not thread-safe; the store guards its committed table and the committer stages changes on a copy.
class TokenTable {
 public:
  const TokenRecord* Find(std::string_view id) const;
  const TokenRecord* FindBySecretHash(std::string_view secret_hash) const;
  const TokenRecord* FindAuthKeyByName(std::string_view name) const;
  void Put(const TokenRecord& t);  // insert or replace by id
  const std::unordered_map<std::string, TokenRecord>& all() const { return by_id_; }

 private:
  std::unordered_map<std::string, TokenRecord> by_id_;
  std::unordered_map<std::string, std::string> by_secret_;    // secret hash -> id
  std::unordered_map<std::string, std::string> by_key_name_;  // auth key name -> id
};

}  // namespace eventful::storage
