// AES-256-CTR encryption provider for RocksDB's EncryptedEnv (encryption.h has the file layout).
#include "storage/encryption.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <rocksdb/env_encryption.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace eventful::storage {
namespace {

constexpr std::string_view kMagic = "EVTFENC1";
constexpr size_t kIvSize = 16;
constexpr size_t kCheckSize = 32;
constexpr size_t kPrefixSize = 4096;
constexpr std::string_view kKeyLabel = "eventful data encryption v1";

std::array<uint8_t, kCheckSize> Check(const DataKey& key, const uint8_t* iv) {
  uint8_t msg[kMagic.size() + kIvSize];
  std::memcpy(msg, kMagic.data(), kMagic.size());
  std::memcpy(msg + kMagic.size(), iv, kIvSize);
  std::array<uint8_t, kCheckSize> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, out.data(), &len);
  return out;
}

// Stateless (thread-safe): every call sets up its own cipher context at the right counter.
class AesCtrStream : public rocksdb::BlockAccessCipherStream {
 public:
  AesCtrStream(const DataKey& key, const uint8_t* iv) : key_(key) { std::memcpy(iv_, iv, kIvSize); }
  ~AesCtrStream() override { OPENSSL_cleanse(key_.data(), key_.size()); }

  size_t BlockSize() override { return 16; }
  rocksdb::Status Encrypt(uint64_t offset, char* data, size_t size) override { return Crypt(offset, data, size); }
  rocksdb::Status Decrypt(uint64_t offset, char* data, size_t size) override { return Crypt(offset, data, size); }

 protected:
  void AllocateScratch(std::string&) override {}
  rocksdb::Status EncryptBlock(uint64_t block, char* data, char*) override { return Crypt(block * 16, data, 16); }
  rocksdb::Status DecryptBlock(uint64_t block, char* data, char*) override { return Crypt(block * 16, data, 16); }

 private:
  // CTR: the counter block is the IV plus the block number (128-bit big-endian addition).
  rocksdb::Status Crypt(uint64_t offset, char* data, size_t size) {
    if (size == 0) return rocksdb::Status::OK();
    uint8_t counter[kIvSize];
    std::memcpy(counter, iv_, kIvSize);
    uint64_t add = offset / 16;
    for (int i = static_cast<int>(kIvSize) - 1; i >= 0 && add != 0; --i) {
      const uint64_t sum = counter[i] + (add & 0xff);
      counter[i] = static_cast<uint8_t>(sum);
      add = (add >> 8) + (sum >> 8);
    }
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr) return rocksdb::Status::IOError("encryption: out of memory");
    bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, key_.data(), counter) == 1;
    int len = 0;
    // Start mid-block: run the keystream over the bytes before `offset` in its block.
    uint8_t skip[16] = {};
    if (ok && offset % 16 != 0) ok = EVP_EncryptUpdate(ctx, skip, &len, skip, static_cast<int>(offset % 16)) == 1;
    auto* p = reinterpret_cast<uint8_t*>(data);
    while (ok && size > 0) {
      const int chunk = static_cast<int>(std::min<size_t>(size, 1 << 30));
      ok = EVP_EncryptUpdate(ctx, p, &len, p, chunk) == 1;
      p += chunk;
      size -= static_cast<size_t>(chunk);
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? rocksdb::Status::OK() : rocksdb::Status::IOError("encryption: AES-256-CTR failed");
  }

  DataKey key_;
  uint8_t iv_[kIvSize];
};

class AesCtrProvider : public rocksdb::EncryptionProvider {
 public:
  explicit AesCtrProvider(const DataKey& key) : key_(key) {}
  ~AesCtrProvider() override { OPENSSL_cleanse(key_.data(), key_.size()); }

  const char* Name() const override { return "EventfulAesCtr"; }
  size_t GetPrefixLength() const override { return kPrefixSize; }

  rocksdb::Status CreateNewPrefix(const std::string&, char* prefix, size_t length) const override {
    if (length < kMagic.size() + kIvSize + kCheckSize) return rocksdb::Status::InvalidArgument("encryption prefix too short");
    std::memset(prefix, 0, length);
    std::memcpy(prefix, kMagic.data(), kMagic.size());
    auto* iv = reinterpret_cast<uint8_t*>(prefix + kMagic.size());
    if (RAND_bytes(iv, kIvSize) != 1) return rocksdb::Status::IOError("encryption: no randomness for an IV");
    const auto check = Check(key_, iv);
    std::memcpy(prefix + kMagic.size() + kIvSize, check.data(), check.size());
    return rocksdb::Status::OK();
  }

  rocksdb::Status AddCipher(const std::string&, const char*, size_t, bool) override {
    return rocksdb::Status::NotSupported("the key is fixed at start");
  }

  rocksdb::Status CreateCipherStream(const std::string& fname, const rocksdb::EnvOptions&, rocksdb::Slice& prefix,
                                     std::unique_ptr<rocksdb::BlockAccessCipherStream>* result) override {
    if (prefix.size() < kMagic.size() + kIvSize + kCheckSize || std::memcmp(prefix.data(), kMagic.data(), kMagic.size()) != 0) {
      return rocksdb::Status::Corruption("file " + fname + " is not encrypted by EventfulDB");
    }
    const auto* iv = reinterpret_cast<const uint8_t*>(prefix.data() + kMagic.size());
    const auto check = Check(key_, iv);
    if (CRYPTO_memcmp(check.data(), prefix.data() + kMagic.size() + kIvSize, check.size()) != 0) {
      return rocksdb::Status::Corruption("wrong data encryption key for file " + fname);
    }
    *result = std::make_unique<AesCtrStream>(key_, iv);
    return rocksdb::Status::OK();
  }

 private:
  DataKey key_;
};

}  // namespace

DataKey DeriveDataKey(std::string_view dek) {
  DataKey out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), dek.data(), static_cast<int>(dek.size()), reinterpret_cast<const uint8_t*>(kKeyLabel.data()),
       kKeyLabel.size(), out.data(), &len);
  return out;
}

std::shared_ptr<rocksdb::EncryptionProvider> NewAesCtrProvider(const DataKey& key) {
  return std::make_shared<AesCtrProvider>(key);
}

bool IsEncryptedFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return true;
  char head[kMagic.size()] = {};
  in.read(head, sizeof head);
  return in.gcount() == static_cast<std::streamsize>(sizeof head) && std::memcmp(head, kMagic.data(), sizeof head) == 0;
}

namespace {

class ErrorLogger : public rocksdb::Logger {
 public:
  ErrorLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::ERROR_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    std::fputs("eventful: rocksdb: ", stderr);
    std::vfprintf(stderr, format, ap);
    std::fputc('\n', stderr);
  }
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewErrorOnlyLogger() { return std::make_shared<ErrorLogger>(); }

std::unique_ptr<rocksdb::Env> NewEncryptedEnv(const DataKey& key) {
  return std::unique_ptr<rocksdb::Env>(rocksdb::NewEncryptedEnv(rocksdb::Env::Default(), NewAesCtrProvider(key)));
}

}  // namespace eventful::storage
