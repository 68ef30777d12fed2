#include "server/treehead_key.h"

#include "server/secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <vector>

namespace eventful::server {
namespace {

constexpr std::string_view kKdfLabel = "eventful treehead key v1";

std::string Hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Status PublicHexOf(const std::array<uint8_t, 32>& priv, std::string* public_hex) {
  PKey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv.data(), priv.size()), EVP_PKEY_free);
  if (!pkey) return Status::Err("cannot load the tree-head key");
  uint8_t pub[32];
  size_t len = sizeof pub;
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub, &len) != 1 || len != 32) {
    return Status::Err("cannot derive the tree-head public key");
  }
  *public_hex = Hex(pub, 32);
  return Status::Ok();
}

}  // namespace

Status GenerateTreeheadKey(std::string_view dek, std::string* public_hex, std::string* sealed) {
  Key32 priv{};
  if (RAND_bytes(priv.data(), priv.size()) != 1) return Status::Err("no randomness for the tree-head key");
  Status s = PublicHexOf(priv, public_hex);
  if (s.ok()) s = SealKey(dek, kKdfLabel, priv, sealed);
  OPENSSL_cleanse(priv.data(), priv.size());
  return s;
}

Status SealTreeheadKey(std::string_view dek, const std::array<uint8_t, 32>& private_raw, std::string* sealed) {
  return SealKey(dek, kKdfLabel, private_raw, sealed);
}

Status OpenTreeheadKey(std::string_view sealed, std::string_view public_hex, std::string_view dek, TreeheadKey* out) {
  if (Status s = UnsealKey(sealed, dek, kKdfLabel, &out->private_raw); !s.ok()) {
    return Status::Err("the tree-head key does not open with this data encryption key");
  }
  std::string derived;
  if (Status s = PublicHexOf(out->private_raw, &derived); !s.ok()) return s;
  if (derived != public_hex) return Status::Err("config.toml: [treehead] public_key does not match the private key");
  out->public_hex = std::move(derived);
  return Status::Ok();
}

Status SignHex(const TreeheadKey& key, std::string_view message, std::string* signature_hex) {
  PKey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.private_raw.data(), key.private_raw.size()),
            EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  uint8_t sig[64];
  size_t len = sizeof sig;
  if (!pkey || !md || EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(md.get(), sig, &len, reinterpret_cast<const uint8_t*>(message.data()), message.size()) != 1 ||
      len != 64) {
    return Status::Err("cannot sign the tree head");
  }
  *signature_hex = Hex(sig, 64);
  return Status::Ok();
}

}  // namespace eventful::server
