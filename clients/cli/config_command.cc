// `eventful config`: writes <data-dir>/config.toml. Secrets are never stored: only their salted
// check values. Generated secrets are printed once, here, and nowhere else.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "clients/cli/commands.h"
#include "server/config.h"
#include "server/secrets.h"
#include "server/treehead_key.h"

namespace eventful::cli {
namespace {

namespace fs = std::filesystem;

// True when the data directory holds anything besides what `config` and `start` put next to
// the store (i.e. a store may exist, encrypted with the current DEK).
bool HasStoreData(const std::string& data_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name == "config.toml" || name == "eventful.log" || name == "eventful.pid" ||
        name.rfind("config.toml.tmp.", 0) == 0) {
      continue;
    }
    return true;
  }
  return false;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int RunConfig(const ConfigOptions& o) {
  if (o.rotate_dek || o.new_dek) return RunRotateDek(o);
  server::ServerConfig config;
  std::error_code ec;
  const std::string config_path = o.data_dir + "/config.toml";
  const bool existing = fs::exists(config_path, ec);
  if (existing) {
    if (Status s = server::LoadConfig(o.data_dir, &config); !s.ok()) return Fail(s.message());
  } else {
    config.data_dir = o.data_dir;
  }

  if (o.port) {
    if (*o.port < 0 || *o.port > 65535) return Fail("--port must be between 0 and 65535");
    config.port = *o.port;
  }
  if (o.bind) {
    if (o.bind->empty()) return Fail("--bind needs an address");
    config.bind = *o.bind;
  }
  if (o.io_threads) {
    if (*o.io_threads < 1 || *o.io_threads > 1024) return Fail("--io-threads must be between 1 and 1024");
    config.io_threads = *o.io_threads;
  }
  if (o.memory_threshold) {
    if (*o.memory_threshold > static_cast<uint64_t>(INT64_MAX)) return Fail("--memory-threshold is too large");
    config.memory_threshold = *o.memory_threshold;
  }

  if (o.strict_schemas && o.no_strict_schemas) return Fail("give --strict-schemas or --no-strict-schemas, not both");
  if (o.strict_schemas) config.strict_schemas = true;
  if (o.no_strict_schemas) config.strict_schemas = false;

  std::string generated_master_key;
  std::string generated_dek;

  if (o.master_key) {
    if (o.master_key->empty()) return Fail("--master-key must not be empty");
    config.master_key_check = server::MakeSecretCheck(*o.master_key);
  } else if (config.master_key_check.empty()) {
    if (!o.generate) {
      return Fail("a master key is required: pass --master-key=<secret>, or --generate to create one");
    }
    generated_master_key = server::GenerateSecret("evm_");
    config.master_key_check = server::MakeSecretCheck(generated_master_key);
  }

  if (o.dek) {
    if (o.dek->empty()) return Fail("--dek must not be empty");
    if (config.dek_check.empty() || !server::VerifySecretCheck(config.dek_check, *o.dek)) {
      if (!config.dek_check.empty() && HasStoreData(o.data_dir)) {
        return Fail("the data encryption key of an existing store cannot be replaced (" + o.data_dir +
                    " already holds data): rotate it with --rotate-dek --dek=OLD --new-dek=NEW");
      }
      config.dek_check = server::MakeSecretCheck(*o.dek);
    }
  } else if (config.dek_check.empty()) {
    if (!o.generate) {
      return Fail("a data encryption key is required: pass --dek=<secret>, or --generate to create one");
    }
    generated_dek = server::GenerateSecret("evd_");
    config.dek_check = server::MakeSecretCheck(generated_dek);
  }

  // The tree-head signing key is sealed with the DEK: (re)create it whenever the DEK is new here.
  const std::string* dek_now = o.dek ? &*o.dek : (generated_dek.empty() ? nullptr : &generated_dek);
  if (dek_now) {
    server::TreeheadKey existing;
    if (config.treehead_private_key.empty() ||
        !server::OpenTreeheadKey(config.treehead_private_key, config.treehead_public_key, *dek_now, &existing).ok()) {
      if (Status s = server::GenerateTreeheadKey(*dek_now, &config.treehead_public_key, &config.treehead_private_key);
          !s.ok()) {
        return Fail(s.message());
      }
    }
    OPENSSL_cleanse(existing.private_raw.data(), existing.private_raw.size());
    // And the token key (keyed hashes of auth keys and tokens), also sealed with the DEK.
    server::Key32 token_key{};
    if (config.token_key.empty() || !server::UnsealKey(config.token_key, *dek_now, server::kTokenKeyLabel, &token_key).ok()) {
      if (RAND_bytes(token_key.data(), token_key.size()) != 1) return Fail("no randomness for the token key");
      if (Status s = server::SealKey(*dek_now, server::kTokenKeyLabel, token_key, &config.token_key); !s.ok()) {
        return Fail(s.message());
      }
    }
    OPENSSL_cleanse(token_key.data(), token_key.size());
  }

  if (Status s = server::SaveConfig(config); !s.ok()) return Fail(s.message());
  std::printf("%s %s\n", existing ? "updated" : "wrote", config_path.c_str());

  if (!generated_master_key.empty() || !generated_dek.empty()) {
    std::printf(
        "\n"
        "================================================================================\n"
        "Generated secrets, shown this ONE time. They are NOT stored anywhere (config.toml\n"
        "keeps only check values). Keep them safe now: without the DEK the data cannot be\n"
        "read, and nobody can recover it.\n"
        "\n");
    if (!generated_master_key.empty()) {
      std::printf("  master key:                %s\n", generated_master_key.c_str());
    }
    if (!generated_dek.empty()) {
      std::printf("  data encryption key (DEK): %s\n", generated_dek.c_str());
    }
    std::printf(
        "\n"
        "Start the server with the DEK in EVENTFUL_DEK (or --dek-file), e.g.\n"
        "  EVENTFUL_DEK=<DEK> eventful start --data-dir %s\n"
        "and authenticate clients with the master key (--token or EVENTFUL_TOKEN).\n"
        "================================================================================\n",
        o.data_dir.c_str());
    OPENSSL_cleanse(generated_master_key.data(), generated_master_key.size());
    OPENSSL_cleanse(generated_dek.data(), generated_dek.size());
  } else if (o.generate) {
    std::printf("both secrets are already configured; nothing generated (give --master-key or --dek "
                "to replace one)\n");
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace eventful::cli
