// Per-connection state that commands read and change: identity, protocol version, name.
// Owned by one Connection and touched only on that connection's I/O thread.
#pragma once

#include <cstdint>
#include <string>

namespace eventful::server {

// Who a connection speaks for. The token system (a later issue) adds auth keys and access tokens
// with permissions; the master key has every right.
struct Identity {
  bool authenticated = false;
  bool admin = false;
  std::string actor;  // recorded as each written event's `actor`
};

struct Session {
  uint64_t client_id = 0;
  std::string name;  // CLIENT SETNAME
  int resp = 2;
  Identity identity;
  bool close_after_reply = false;  // QUIT
};

}  // namespace eventful::server
