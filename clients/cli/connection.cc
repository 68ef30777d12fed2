#include "clients/cli/connection.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

struct Connection::Tls {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  redisReader* reader = nullptr;
  ~Tls() {
    if (reader != nullptr) redisReaderFree(reader);
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
};

namespace {

std::string SslError() {
  char buf[256];
  const unsigned long e = ERR_get_error();
  if (e == 0) return "TLS handshake failed";
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

Connection::Connection() = default;

Connection::~Connection() {
  if (context_ != nullptr) redisFree(context_);
}

bool Connection::OpenTls(const ConnectionOptions& o, int port) {
  tls_ = std::make_unique<Tls>();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(o.host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "error: cannot connect to %s: %s\n", where_.c_str(), gai_strerror(rc));
    return false;
  }
  for (addrinfo* a = found; a != nullptr && tls_->fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      tls_->fd = fd;
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (tls_->fd < 0) {
    std::fprintf(stderr, "error: cannot connect to %s: %s\n", where_.c_str(), std::strerror(errno));
    return false;
  }
  tls_->ctx = SSL_CTX_new(TLS_client_method());
  bool ok = tls_->ctx != nullptr && SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_2_VERSION) == 1;
  if (ok) {
    ok = o.cacert.empty() ? SSL_CTX_set_default_verify_paths(tls_->ctx) == 1
                          : SSL_CTX_load_verify_locations(tls_->ctx, o.cacert.c_str(), nullptr) == 1;
  }
  if (ok && !o.cert.empty()) {
    ok = SSL_CTX_use_certificate_chain_file(tls_->ctx, o.cert.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(tls_->ctx, (o.key.empty() ? o.cert : o.key).c_str(), SSL_FILETYPE_PEM) == 1;
  }
  if (!ok) {
    std::fprintf(stderr, "error: TLS setup: %s\n", SslError().c_str());
    return false;
  }
  SSL_CTX_set_verify(tls_->ctx, SSL_VERIFY_PEER, nullptr);  // the server must chain to --cacert
  tls_->ssl = SSL_new(tls_->ctx);
  SSL_set_fd(tls_->ssl, tls_->fd);
  SSL_set_tlsext_host_name(tls_->ssl, o.host.c_str());
  SSL_set1_host(tls_->ssl, o.host.c_str());  // and be issued for the host we asked for
  if (SSL_connect(tls_->ssl) != 1) {
    std::fprintf(stderr, "error: TLS connection to %s failed: %s\n", where_.c_str(), SslError().c_str());
    return false;
  }
  tls_->reader = redisReaderCreate();
  return true;
}

Reply Connection::CallTls(const char* command, size_t length) {
  for (size_t sent = 0; sent < length;) {
    const int n = SSL_write(tls_->ssl, command + sent, static_cast<int>(std::min<size_t>(length - sent, 1 << 30)));
    if (n <= 0) {
      std::fprintf(stderr, "error: connection to %s failed: %s\n", where_.c_str(), SslError().c_str());
      return nullptr;
    }
    sent += static_cast<size_t>(n);
  }
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(tls_->reader, &reply) != REDIS_OK) {
      std::fprintf(stderr, "error: bad reply from %s: %s\n", where_.c_str(), tls_->reader->errstr);
      return nullptr;
    }
    if (reply != nullptr) return Reply(static_cast<redisReply*>(reply));
    char buf[16384];
    const int n = SSL_read(tls_->ssl, buf, sizeof buf);
    if (n <= 0) {
      std::fprintf(stderr, "error: connection to %s failed: closed by the server\n", where_.c_str());
      return nullptr;
    }
    redisReaderFeed(tls_->reader, buf, static_cast<size_t>(n));
  }
}

bool Connection::Open(const ConnectionOptions& o) {
  int port = 0;
  if (!ResolvePort(o, &port)) return false;
  where_ = o.host + ":" + std::to_string(port);
  if (o.tls) {
    if (!OpenTls(o, port)) return false;
  } else if (!o.cacert.empty() || !o.cert.empty() || !o.key.empty()) {
    std::fprintf(stderr, "error: --cacert, --cert and --key go with --tls\n");
    return false;
  } else if (!OpenPlain(o, port)) {
    return false;
  }
  return Authenticate(o);
}

bool Connection::OpenPlain(const ConnectionOptions& o, int port) {
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
  return true;
}

bool Connection::Authenticate(const ConnectionOptions& o) {
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
  if (tls_) {
    char* command = nullptr;
    const int length = redisFormatCommandArgv(&command, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (length < 0) return nullptr;
    Reply reply = CallTls(command, static_cast<size_t>(length));
    redisFreeCommand(command);
    return reply;
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
