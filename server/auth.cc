#include "server/auth.h"

#include <openssl/crypto.h>

#include "server/secrets.h"

namespace eventful::server {


Status Authenticator::Authenticate(std::string_view secret, Identity* out) {
  const storage::Hash digest = storage::Sha256(secret);
  bool known = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& h : verified_) {
      known = known || CRYPTO_memcmp(h.data(), digest.data(), h.size()) == 0;
    }
  }
  if (!known && !VerifySecretCheck(config_.master_key_check, secret)) {
    return {Code::kWrongPass, "invalid username-password pair or user is disabled."};
  }
  if (!known) {
    std::lock_guard lock(mu_);
    if (verified_.size() < 64) verified_.push_back(digest);
  }
  out->authenticated = true;
  out->admin = true;
  out->actor = "master";
  return Status::Ok();
}

}  // namespace eventful::server
