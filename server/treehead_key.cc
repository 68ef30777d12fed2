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

constexpr std::string_view kSealPrefix = "aes256gcm$";
constexpr std::string_view kKdfLabel = "eventful treehead key v1";
constexpr size_t kNonce = 12, kTag = 16;

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

std::array<uint8_t, 32> SealingKey(std::string_view dek) {
  std::array<uint8_t, 32> key{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), dek.data(), static_cast<int>(dek.size()), reinterpret_cast<const uint8_t*>(kKdfLabel.data()),
       kKdfLabel.size(), key.data(), &len);
  return key;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;
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
  std::array<uint8_t, 32> priv{};
  if (RAND_bytes(priv.data(), priv.size()) != 1) return Status::Err("no randomness for the tree-head key");
  if (Status s = PublicHexOf(priv, public_hex); !s.ok()) return s;

  const auto key = SealingKey(dek);
  std::vector<uint8_t> out(kNonce + priv.size() + kTag);
  if (RAND_bytes(out.data(), kNonce) != 1) return Status::Err("no randomness for the tree-head key");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) == 1 &&
            EVP_EncryptUpdate(ctx.get(), out.data() + kNonce, &len, priv.data(), priv.size()) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonce + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + priv.size()) == 1;
  OPENSSL_cleanse(priv.data(), priv.size());
  if (!ok) return Status::Err("cannot seal the tree-head key");
  *sealed = std::string(kSealPrefix) + Base64Url(out.data(), out.size());
  return Status::Ok();
}

Status OpenTreeheadKey(std::string_view sealed, std::string_view public_hex, std::string_view dek, TreeheadKey* out) {
  const auto decoded = sealed.starts_with(kSealPrefix) ? DecodeBase64Url(sealed.substr(kSealPrefix.size()))
                                                       : std::nullopt;
  if (!decoded || decoded->size() != kNonce + 32 + kTag) {
    return Status::Err("config.toml: [treehead] private_key is malformed");
  }
  std::vector<unsigned char> in = *decoded;
  const auto key = SealingKey(dek);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), in.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), out->private_raw.data(), &len, in.data() + kNonce, 32) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, in.data() + kNonce + 32) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), out->private_raw.data() + len, &len) == 1;
  if (!ok) return Status::Err("the tree-head key does not open with this data encryption key");
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
