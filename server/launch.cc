#include "server/launch.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "server/secrets.h"
#include "server/server.h"
#include "server/treehead_key.h"

namespace eventful::server {
namespace {

void StripTrailingNewlines(std::string* s) {
  while (!s->empty() && (s->back() == '\n' || s->back() == '\r')) s->pop_back();
}

Status ReadDekFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Err("cannot read DEK file " + path);
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  StripTrailingNewlines(out);
  if (out->empty()) return Status::Err("DEK file " + path + " is empty");
  return Status::Ok();
}

Status ResolveDek(const LaunchOptions& o, std::string* dek) {
  if (o.dek && !o.dek->empty()) {
    *dek = *o.dek;
    return Status::Ok();
  }
  if (o.dek_file) return ReadDekFile(*o.dek_file, dek);
  if (const char* env = std::getenv("EVENTFUL_DEK"); env != nullptr && *env != '\0') {
    *dek = env;
    return Status::Ok();
  }
  return Status::Err("data encryption key required: pass --dek or --dek-file, or set EVENTFUL_DEK");
}

Status ParsePort(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return Status::Err("EVENTFUL_PORT must be a port number (0-65535)");
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Status::Err("EVENTFUL_PORT must be a port number (0-65535)");
    v = v * 10 + (c - '0');
  }
  if (v > 65535) return Status::Err("EVENTFUL_PORT must be a port number (0-65535)");
  *port = v;
  return Status::Ok();
}

}  // namespace

Status PrepareLaunch(const LaunchOptions& o, ServerConfig* out) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(o.data_dir, ec);
  if (ec) return Status::Err("bad data directory " + o.data_dir + ": " + ec.message());
  std::string data_dir = dir.lexically_normal().string();
  if (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();

  if (Status s = LoadConfig(data_dir, out); !s.ok()) return s;
  if (out->master_key_check.empty()) {
    return Status::Err("no master key configured in " + data_dir +
                       ": run `eventful config --master-key=... ` or `eventful config --generate`");
  }
  if (out->dek_check.empty()) {
    return Status::Err("no data encryption key configured in " + data_dir +
                       ": run `eventful config --dek=...` or `eventful config --generate`");
  }

  if (o.port) {
    if (*o.port < 0 || *o.port > 65535) return Status::Err("--port must be between 0 and 65535");
    out->port = *o.port;
  } else if (const char* env = std::getenv("EVENTFUL_PORT"); env != nullptr && *env != '\0') {
    if (Status s = ParsePort(env, &out->port); !s.ok()) return s;
  }
  if (o.bind) {
    if (o.bind->empty()) return Status::Err("--bind needs an address");
    out->bind = *o.bind;
  }
  if (o.io_threads) {
    if (*o.io_threads < 1 || *o.io_threads > 1024) return Status::Err("--io-threads must be between 1 and 1024");
    out->io_threads = *o.io_threads;
  }
  if (o.relaxed_durability) out->relaxed_durability = true;
  if (o.strict_schemas) out->strict_schemas = true;
  if (Status s = CheckTlsOptions(o.tls); !s.ok()) return s;
  out->tls = o.tls;
  if (o.memory_threshold) {
    if (*o.memory_threshold > static_cast<uint64_t>(INT64_MAX)) return Status::Err("--memory-threshold is too large");
    out->memory_threshold = *o.memory_threshold;
  }

  std::string dek;
  if (Status s = ResolveDek(o, &dek); !s.ok()) return s;
  if (!VerifySecretCheck(out->dek_check, dek)) {
    OPENSSL_cleanse(dek.data(), dek.size());
    return Status::Err("wrong data encryption key");
  }
  out->dek = std::move(dek);

  // The tree-head key: created here for a configuration written before it existed.
  if (out->treehead_private_key.empty()) {
    if (Status s = GenerateTreeheadKey(out->dek, &out->treehead_public_key, &out->treehead_private_key); !s.ok()) {
      return s;
    }
    if (Status s = SaveConfig(*out); !s.ok()) return s;
  }
  TreeheadKey key;
  if (Status s = OpenTreeheadKey(out->treehead_private_key, out->treehead_public_key, out->dek, &key); !s.ok()) {
    return s;
  }
  out->treehead_seed.assign(reinterpret_cast<const char*>(key.private_raw.data()), key.private_raw.size());
  OPENSSL_cleanse(key.private_raw.data(), key.private_raw.size());

  // The token key: created here for a configuration written before it existed.
  Key32 token_key{};
  if (out->token_key.empty()) {
    if (RAND_bytes(token_key.data(), token_key.size()) != 1) return Status::Err("no randomness for the token key");
    if (Status s = SealKey(out->dek, kTokenKeyLabel, token_key, &out->token_key); !s.ok()) return s;
    if (Status s = SaveConfig(*out); !s.ok()) return s;
  }
  if (Status s = UnsealKey(out->token_key, out->dek, kTokenKeyLabel, &token_key); !s.ok()) {
    return Status::Err("config.toml: the token key does not open with this data encryption key");
  }
  out->token_key_raw.assign(reinterpret_cast<const char*>(token_key.data()), token_key.size());
  OPENSSL_cleanse(token_key.data(), token_key.size());
  return Status::Ok();
}

int LaunchServer(const LaunchOptions& options) {
  ServerConfig config;
  if (Status s = PrepareLaunch(options, &config); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
  }
  int rc = RunServer(config);
  OPENSSL_cleanse(config.dek.data(), config.dek.size());
  return rc;
}

}  // namespace eventful::server
