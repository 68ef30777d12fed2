#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "server/secrets.h"
#include "storage/clock.h"

namespace eventful::server {
namespace {

constexpr std::string_view kSecretHashLabel = "eventful token secret hash v1";

}  // namespace

Authenticator::Authenticator(const ServerConfig& config, storage::Store* store) : config_(config), store_(store) {
  // The token key from config.toml (sealed with the DEK, opened by PrepareLaunch); without one
  // (tests of the master key alone) a key derived from the DEK.
  if (config.token_key_raw.size() == secret_key_.size()) {
    std::copy(config.token_key_raw.begin(), config.token_key_raw.end(), secret_key_.begin());
    return;
  }
  unsigned int len = 0;
  HMAC(EVP_sha256(), config.dek.data(), static_cast<int>(config.dek.size()),
       reinterpret_cast<const uint8_t*>(kSecretHashLabel.data()), kSecretHashLabel.size(), secret_key_.data(), &len);
}

std::string Authenticator::SecretHash(std::string_view secret) const {
  std::array<uint8_t, 32> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_key_.data(), static_cast<int>(secret_key_.size()), reinterpret_cast<const uint8_t*>(secret.data()),
       secret.size(), mac.data(), &len);
  storage::Hash h;
  std::copy(mac.begin(), mac.end(), h.begin());
  return storage::ToHex(h);
}

std::string Authenticator::NewSecret(std::string_view prefix) {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no randomness: nothing safe to do
  return std::string(prefix) + Base64Url(bytes, sizeof bytes);
}

Identity Authenticator::IdentityOf(const storage::TokenRecord& t, uint64_t generation) {
  Identity id;
  id.authenticated = true;
  id.admin = t.permissions.admin;
  id.actor = t.Actor();
  id.token_id = t.id;
  id.auth_key = t.kind == storage::TokenRecord::Kind::kAuthKey;
  id.permissions = t.permissions;
  id.expires_at_ms = t.expires_at_ms;
  id.generation = generation;
  return id;
}

bool Authenticator::Known(const storage::Hash& digest) {
  std::lock_guard lock(mu_);
  bool known = false;
  for (const auto& h : verified_) known = known || CRYPTO_memcmp(h.data(), digest.data(), h.size()) == 0;
  return known;
}

Status Authenticator::Authenticate(std::string_view secret, Identity* out) {
  const Status wrong(Code::kWrongPass, "invalid username-password pair or user is disabled.");
  if (store_ && (secret.starts_with(kAuthKeyPrefix) || secret.starts_with(kTokenPrefix))) {
    const uint64_t generation = store_->TokenGeneration();
    const std::string hash = SecretHash(secret);
    std::optional<storage::TokenRecord> t = store_->FindTokenBySecretHash(hash);
    // The lookup is by keyed hash; the final comparison is constant-time anyway.
    if (!t || t->secret_hash.size() != hash.size() || CRYPTO_memcmp(t->secret_hash.data(), hash.data(), hash.size()) != 0) {
      return wrong;
    }
    if (t->revoked) return Status::NoAuth("token revoked");
    if (t->Expired(storage::NowMs())) return Status::NoAuth("token expired");
    *out = IdentityOf(*t, generation);
    return Status::Ok();
  }
  const storage::Hash digest = storage::Sha256(secret);
  if (!Known(digest)) {
    // One slow check at a time: many connections authenticating at once with the same secret
    // (a client pool starting) pay for it once, and guessing is not parallelised either.
    std::lock_guard slow(slow_mu_);
    if (!Known(digest)) {
      if (!VerifySecretCheck(config_.master_key_check, secret)) return wrong;
      std::lock_guard lock(mu_);
      if (verified_.size() < 64) verified_.push_back(digest);
    }
  }
  *out = Identity{};
  out->authenticated = true;
  out->master = true;
  out->admin = true;
  out->actor = "master";
  return Status::Ok();
}

Status Authenticator::Refresh(Identity* identity) {
  if (identity->token_id.empty() || !store_) return Status::Ok();
  const uint64_t generation = store_->TokenGeneration();
  if (generation != identity->generation) {
    std::optional<storage::TokenRecord> t = store_->FindToken(identity->token_id);
    if (!t || t->revoked) return Status::NoAuth("token revoked");
    *identity = IdentityOf(*t, generation);
  }
  if (identity->expires_at_ms != 0 && storage::NowMs() >= identity->expires_at_ms) return Status::NoAuth("token expired");
  return Status::Ok();
}

}  // namespace eventful::server
