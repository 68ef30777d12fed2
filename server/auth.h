// Turns an AUTH secret into an Identity. For now the master key is the only secret; auth keys
// and access tokens (a later issue) slot in here.
//
// Thread-safety: Authenticate() may be called from every I/O thread; mu_ guards verified_.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "server/session.h"
#include "storage/hash.h"
#include "storage/status.h"

namespace eventful::server {

class Authenticator {
 public:
  explicit Authenticator(const ServerConfig& config) : config_(config) {}
  // WRONGPASS when the secret matches nothing.
  Status Authenticate(std::string_view secret, Identity* out);

 private:
  bool Known(const storage::Hash& digest);

  const ServerConfig& config_;
  std::mutex slow_mu_;  // serialises the PBKDF2 checks
  // SHA-256 of secrets that passed the (deliberately slow) PBKDF2 check, so that reconnecting
  // clients do not pay it again. Wrong secrets always pay it.
  std::mutex mu_;
  std::vector<storage::Hash> verified_;  // guarded by mu_
};

}  // namespace eventful::server
