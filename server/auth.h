// Turns an AUTH secret into an Identity, and keeps a connection's identity current.
//
// Secrets: the master key (checked against config.toml's PBKDF2 check value), auth keys (`evk_…`)
// and access tokens (`evt_…`), looked up by their keyed hash: HMAC-SHA256 under a key derived from
// the DEK, which is not in the data directory, so a copy of the data directory lets nobody
// authenticate (docs/security.md).
//
// Thread-safety: every method may be called from every I/O thread; mu_ guards verified_.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "server/session.h"
#include "storage/hash.h"
#include "storage/status.h"
#include "storage/store.h"

namespace eventful::server {

inline constexpr std::string_view kAuthKeyPrefix = "evk_";
inline constexpr std::string_view kTokenPrefix = "evt_";

class Authenticator {
 public:
  // `store` may be null (tests of the master key alone).
  Authenticator(const ServerConfig& config, storage::Store* store);
  // WRONGPASS when the secret matches nothing; NOAUTH token expired / revoked.
  Status Authenticate(std::string_view secret, Identity* out);
  // For an auth key or token identity: re-reads its record when a control change happened since,
  // and fails with NOAUTH token revoked / expired. A no-op for the master key.
  Status Refresh(Identity* identity);
  // The keyed hash stored for a secret (hex).
  std::string SecretHash(std::string_view secret) const;
  // A fresh random secret with the given prefix (192 bits, base64url).
  static std::string NewSecret(std::string_view prefix);
  // The identity of a token record (permissions, actor, expiry).
  static Identity IdentityOf(const storage::TokenRecord& t, uint64_t generation);

 private:
  bool Known(const storage::Hash& digest);

  const ServerConfig& config_;
  storage::Store* store_;
  std::array<uint8_t, 32> secret_key_{};  // HMAC key for secret hashes, derived from the DEK
  std::mutex slow_mu_;  // serialises the PBKDF2 checks
  // SHA-256 of secrets that passed the (deliberately slow) PBKDF2 check, so that reconnecting
  // clients do not pay it again. Wrong secrets always pay it.
  std::mutex mu_;
  std::vector<storage::Hash> verified_;  // guarded by mu_
};

}  // namespace eventful::server
