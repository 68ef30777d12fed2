// Per-connection state that commands read and change: identity, protocol version, name.
// Owned by one Connection and touched only on that connection's I/O thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/token.h"

namespace eventful::server {

// Who a connection speaks for: the master key (every right), an auth key or an access token
// (docs/security.md), with the permissions of its record as last read.
struct Identity {
  bool authenticated = false;
  bool master = false;
  bool admin = false;     // master, or a record with admin rights
  std::string actor;      // recorded as each written event's `actor`
  std::string token_id;   // the auth key's or access token's id; empty for the master key
  bool auth_key = false;  // token_id names an auth key (not an access token)
  storage::Permissions permissions;  // when token_id is set
  int64_t expires_at_ms = 0;         // 0 = never
  uint64_t generation = 0;           // Store::TokenGeneration() when the record was read

  bool CanRead(std::string_view stream) const { return master || permissions.CanRead(stream); }
  bool CanWrite(std::string_view stream) const { return master || permissions.CanWrite(stream); }
};

struct Session {
  uint64_t client_id = 0;
  std::string name;  // CLIENT SETNAME
  int resp = 2;
  Identity identity;
  bool close_after_reply = false;  // QUIT
};

}  // namespace eventful::server
