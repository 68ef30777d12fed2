#include "clients/cli/connection.h"

#include <sys/time.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "clients/cli/session_file.h"

namespace eventful::cli {
namespace {

constexpr int kDefaultPort = 9595;

bool ResolvePort(const ConnectionOptions& o, int* port) {
  if (o.port) {
    *port = *o.port;
  } else if (const char* env = std::getenv("EVENTFUL_PORT"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535) {
      std::fprintf(stderr, "error: EVENTFUL_PORT must be a port number (1-65535), not '%s'\n", env);
      return false;
    }
    *port = static_cast<int>(v);
  } else {
    *port = kDefaultPort;
  }
  if (*port < 1 || *port > 65535) {
    std::fprintf(stderr, "error: --port must be between 1 and 65535\n");
    return false;
  }
  return true;
}

}  // namespace

Connection::~Connection() {
  if (context_ != nullptr) redisFree(context_);
}

bool Connection::Open(const ConnectionOptions& o) {
  int port = 0;
  if (!ResolvePort(o, &port)) return false;
  where_ = o.host + ":" + std::to_string(port);
  timeval timeout{5, 0};
  context_ = redisConnectWithTimeout(o.host.c_str(), port, timeout);
  if (context_ == nullptr) {
    std::fprintf(stderr, "error: cannot connect to %s: out of memory\n", where_.c_str());
    return false;
  }
  if (context_->err != 0) {
    std::fprintf(stderr, "error: cannot connect to %s: %s\n", where_.c_str(), context_->errstr);
    return false;
  }
  // The connect timeout also applies to replies in hiredis; a VERIFY of a large store may take
  // long, so replies get no timeout.
  redisSetTimeout(context_, timeval{0, 0});

  SecretSource source = SecretSource::kNone;
  const std::string secret = ResolveSecret(o, &source);
  if (secret.empty()) return true;
  Reply reply = Call({"AUTH", secret});
  if (reply == nullptr) return false;
  if (!PrintIfError(reply.get())) return true;
  if (source == SecretSource::kSessionFile) {
    std::optional<std::string> path = SessionPath();
    std::fprintf(stderr, "(the secret comes from the session file %s; `eventful token:auth --logout` removes it)\n",
                 path ? path->c_str() : "");
  }
  return false;
}

Reply Connection::Call(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (raw == nullptr) {
    std::fprintf(stderr, "error: connection to %s failed: %s\n", where_.c_str(),
                 context_->err != 0 ? context_->errstr : "no reply");
    return nullptr;
  }
  return Reply(raw);
}

std::string ResolveSecret(const ConnectionOptions& o, SecretSource* source) {
  if (o.token) {
    *source = o.token->empty() ? SecretSource::kNone : SecretSource::kOption;
    return *o.token;
  }
  if (const char* env = std::getenv("EVENTFUL_TOKEN"); env != nullptr) {
    *source = *env == '\0' ? SecretSource::kNone : SecretSource::kEnvironment;
    return env;
  }
  if (std::optional<std::string> stored = ReadSession()) {
    *source = SecretSource::kSessionFile;
    return *stored;
  }
  *source = SecretSource::kNone;
  return "";
}

bool PrintIfError(const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ERROR) return false;
  std::fprintf(stderr, "error: %.*s\n", static_cast<int>(reply->len), reply->str);
  return true;
}

}  // namespace eventful::cli
