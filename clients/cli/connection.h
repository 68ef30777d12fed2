// One RESP2 connection for a client subcommand: hiredis over plain TCP, or, with --tls, OpenSSL
// over a TCP socket with hiredis' reply reader (Debian's hiredis has no TLS of its own).
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "clients/cli/commands.h"

namespace eventful::cli {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class Connection {
 public:
  Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Connects to host:port (port: option, else EVENTFUL_PORT, else 9595) and, when there is a
  // secret (ResolveSecret), sends `AUTH <secret>`. On failure prints "error: ..." to stderr and
  // returns false.
  bool Open(const ConnectionOptions& options);

  // Sends one command as RESP words. Returns the reply, or null after printing an I/O error.
  // An error reply is returned as is (see PrintIfError).
  Reply Call(const std::vector<std::string>& args);

 private:
  bool OpenPlain(const ConnectionOptions& options, int port);
  bool OpenTls(const ConnectionOptions& options, int port);
  bool Authenticate(const ConnectionOptions& options);
  Reply CallTls(const char* command, size_t length);

  redisContext* context_ = nullptr;  // plain
  struct Tls;                         // --tls: socket, SSL, reply reader (connection.cc)
  std::unique_ptr<Tls> tls_;
  std::string where_;  // "host:port", for messages
};

// Where the secret a client subcommand authenticates with came from.
enum class SecretSource { kNone, kOption, kEnvironment, kSessionFile };

// The secret to send with AUTH, in order of precedence: --token, EVENTFUL_TOKEN (when set; set
// but empty means "no AUTH"), the session file of `eventful token:auth --keep-alive`
// (session_file.h). kNone and "" when there is none.
std::string ResolveSecret(const ConnectionOptions& options, SecretSource* source);

// When `reply` is an error reply, prints "error: <CODE message>" to stderr and returns true.
bool PrintIfError(const redisReply* reply);

}  // namespace eventful::cli
