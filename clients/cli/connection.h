// One hiredis (RESP2) connection for a client subcommand.
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
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Connects to host:port (port: option, else EVENTFUL_PORT, else 9595) and, when a secret is
  // given (--token, else EVENTFUL_TOKEN), sends `AUTH <secret>`. On failure prints
  // "error: ..." to stderr and returns false.
  bool Open(const ConnectionOptions& options);

  // Sends one command as RESP words. Returns the reply, or null after printing an I/O error.
  // An error reply is returned as is (see PrintIfError).
  Reply Call(const std::vector<std::string>& args);

 private:
  redisContext* context_ = nullptr;
  std::string where_;  // "host:port", for messages
};

// When `reply` is an error reply, prints "error: <CODE message>" to stderr and returns true.
bool PrintIfError(const redisReply* reply);

}  // namespace eventful::cli
