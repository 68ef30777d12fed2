// Secrets: generation, salted check values, constant-time comparison.
//
// A check value is "pbkdf2-sha256$<iterations>$<salt>$<hash>": salt and hash are base64url without
// padding; hash = PBKDF2-HMAC-SHA256(secret, salt, iterations), 32 bytes. It lets `start` tell a
// wrong key from a right one without config.toml ever holding the key itself.
#include "server/secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

namespace eventful::server {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr int kIterations = 100000;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kSecretBytes = 32;
// Bounds on what a check value may ask for, so a hand-edited config.toml cannot make `start` spin.
constexpr long kMinIterations = 1000;
constexpr long kMaxIterations = 10000000;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::string Base64Url(const unsigned char* data, std::size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

namespace {
int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::optional<std::vector<unsigned char>> DecodeBase64Url(std::string_view s) {
  if (s.size() % 4 == 1) return std::nullopt;
  std::vector<unsigned char> out;
  out.reserve(s.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = Base64UrlValue(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xff));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

namespace {

bool Pbkdf2(std::string_view secret, const unsigned char* salt, std::size_t salt_len,
            int iterations, unsigned char* out, std::size_t out_len) {
  return PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()), salt,
                           static_cast<int>(salt_len), iterations, EVP_sha256(),
                           static_cast<int>(out_len), out) == 1;
}

// Splits "a$b$c$d" into exactly four parts.
std::optional<std::array<std::string_view, 4>> SplitCheck(std::string_view check) {
  std::array<std::string_view, 4> parts;
  for (std::size_t i = 0; i < 3; ++i) {
    std::size_t dollar = check.find('$');
    if (dollar == std::string_view::npos) return std::nullopt;
    parts[i] = check.substr(0, dollar);
    check.remove_prefix(dollar + 1);
  }
  if (check.find('$') != std::string_view::npos) return std::nullopt;
  parts[3] = check;
  return parts;
}

}  // namespace

std::string GenerateSecret(std::string_view prefix) {
  std::array<unsigned char, kSecretBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // No usable randomness means no safe secret: never fall back to a weak one.
    std::abort();
  }
  std::string out(prefix);
  out += Base64Url(bytes.data(), bytes.size());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

std::string MakeSecretCheck(std::string_view secret) {
  std::array<unsigned char, kSaltBytes> salt{};
  std::array<unsigned char, kHashBytes> hash{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1 ||
      !Pbkdf2(secret, salt.data(), salt.size(), kIterations, hash.data(), hash.size())) {
    std::abort();
  }
  std::string out(kScheme);
  out += '$';
  out += std::to_string(kIterations);
  out += '$';
  out += Base64Url(salt.data(), salt.size());
  out += '$';
  out += Base64Url(hash.data(), hash.size());
  return out;
}

bool VerifySecretCheck(std::string_view check, std::string_view secret) {
  auto parts = SplitCheck(check);
  if (!parts || (*parts)[0] != kScheme) return false;
  std::string_view iter_text = (*parts)[1];
  if (iter_text.empty() || iter_text.size() > 9) return false;
  long iterations = 0;
  for (char c : iter_text) {
    if (c < '0' || c > '9') return false;
    iterations = iterations * 10 + (c - '0');
  }
  if (iterations < kMinIterations || iterations > kMaxIterations) return false;
  auto salt = DecodeBase64Url((*parts)[2]);
  auto expected = DecodeBase64Url((*parts)[3]);
  if (!salt || !expected || salt->empty() || expected->size() < 16 || expected->size() > 64) {
    return false;
  }
  std::vector<unsigned char> actual(expected->size());
  if (!Pbkdf2(secret, salt->data(), salt->size(), static_cast<int>(iterations), actual.data(),
              actual.size())) {
    return false;
  }
  return CRYPTO_memcmp(actual.data(), expected->data(), actual.size()) == 0;
}


// ---- sealed keys ----------------------------------------------------------------------------------
//
// sealed := "aes256gcm$" base64url( nonce (12) | AES-256-GCM ciphertext (32) | tag (16) )
// under HMAC-SHA256(dek, label): only someone with the DEK can open it, and a wrong DEK or an edit is
// detected by the tag.

namespace {

constexpr std::string_view kSealPrefix = "aes256gcm$";
constexpr std::size_t kNonce = 12, kTag = 16;

Key32 SealingKey(std::string_view dek, std::string_view label) {
  Key32 key{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), dek.data(), static_cast<int>(dek.size()), reinterpret_cast<const uint8_t*>(label.data()),
       label.size(), key.data(), &len);
  return key;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

Status SealKey(std::string_view dek, std::string_view label, const Key32& raw, std::string* sealed) {
  Key32 key = SealingKey(dek, label);
  std::vector<uint8_t> out(kNonce + raw.size() + kTag);
  if (RAND_bytes(out.data(), kNonce) != 1) return Status::Err("no randomness to seal a key");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) == 1 &&
                  EVP_EncryptUpdate(ctx.get(), out.data() + kNonce, &len, raw.data(), raw.size()) == 1 &&
                  EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonce + len, &len) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + raw.size()) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) return Status::Err("cannot seal a key");
  *sealed = std::string(kSealPrefix) + Base64Url(out.data(), out.size());
  return Status::Ok();
}

Status UnsealKey(std::string_view sealed, std::string_view dek, std::string_view label, Key32* raw) {
  const auto in = sealed.starts_with(kSealPrefix) ? DecodeBase64Url(sealed.substr(kSealPrefix.size())) : std::nullopt;
  if (!in || in->size() != kNonce + raw->size() + kTag) return Status::Err("a sealed key in config.toml is malformed");
  Key32 key = SealingKey(dek, label);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  const bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), in->data()) == 1 &&
                  EVP_DecryptUpdate(ctx.get(), raw->data(), &len, in->data() + kNonce, static_cast<int>(raw->size())) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag,
                                      const_cast<unsigned char*>(in->data() + kNonce + raw->size())) == 1 &&
                  EVP_DecryptFinal_ex(ctx.get(), raw->data() + len, &len) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) return Status::Err("a sealed key does not open with this data encryption key");
  return Status::Ok();
}

}  // namespace eventful::server
