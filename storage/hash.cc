// SHA-256 through OpenSSL EVP, and the RFC 6962 leaf/node hashes built on it.
//
// The SHA-256 EVP_MD is fetched once (an immutable, reference-counted object that OpenSSL allows
// to be shared between threads); each thread reuses its own EVP_MD_CTX, so hashing allocates
// nothing after the first call on a thread.
#include "storage/hash.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace eventful::storage {
namespace {

const EVP_MD* Sha256Md() {
  // Explicit fetch avoids the implicit per-call lookup of EVP_sha256() in OpenSSL 3.
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

[[noreturn]] void DigestFailed() {
  // Only a failed allocation inside OpenSSL can get here; no hash means no integrity guarantee.
  std::fputs("eventful: OpenSSL SHA-256 failed\n", stderr);
  std::abort();
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// The calling thread's digest context, initialised for SHA-256.
EVP_MD_CTX* BeginSha256() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), Sha256Md(), nullptr) != 1) DigestFailed();
  return ctx.get();
}

void Update(EVP_MD_CTX* ctx, const void* data, size_t len) {
  if (EVP_DigestUpdate(ctx, data, len) != 1) DigestFailed();
}

Hash Finish(EVP_MD_CTX* ctx) {
  Hash out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) DigestFailed();
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Hash Sha256(std::string_view data) {
  EVP_MD_CTX* ctx = BeginSha256();
  Update(ctx, data.data(), data.size());
  return Finish(ctx);
}

Hash LeafHash(std::string_view canonical) {
  static constexpr unsigned char kLeafPrefix = 0x00;
  EVP_MD_CTX* ctx = BeginSha256();
  Update(ctx, &kLeafPrefix, 1);
  Update(ctx, canonical.data(), canonical.size());
  return Finish(ctx);
}

Hash NodeHash(const Hash& left, const Hash& right) {
  unsigned char buf[1 + 2 * sizeof(Hash)];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 1 + left.size());
  EVP_MD_CTX* ctx = BeginSha256();
  Update(ctx, buf, sizeof(buf));
  return Finish(ctx);
}

Hash EmptyTreeHash() {
  static const Hash empty = Sha256({});
  return empty;
}

std::string ToHex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * h.size(), '\0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 0x0f];
  }
  return out;
}

bool FromHex(std::string_view hex, Hash* out) {
  if (hex.size() != 2 * out->size()) return false;
  Hash h;
  for (size_t i = 0; i < h.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = h;
  return true;
}

}  // namespace eventful::storage
