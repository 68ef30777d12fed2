// Encryption at rest: every file RocksDB writes (SST, WAL, MANIFEST, OPTIONS, CURRENT, …) goes
// through rocksdb::NewEncryptedEnv with this provider: AES-256-CTR (OpenSSL), a fresh random
// 128-bit IV per file, under a key derived from the DEK.
//
// File layout (RocksDB's EncryptedEnv puts our prefix first, then the encrypted data):
//
//   prefix := magic "EVTFENC1" (8) | iv (16) | check (32) | zero padding to 4096 bytes
//   check  := HMAC-SHA256(key, magic | iv)   — tells "wrong key" from "damaged file"
//   data   := AES-256-CTR(key, counter = iv + data_offset / 16) of the plaintext
//
// The prefix is one page so that data offsets stay page-aligned.
#pragma once

#include <rocksdb/env.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rocksdb {
class EncryptionProvider;
}

namespace eventful::storage {

using DataKey = std::array<uint8_t, 32>;

// The data-encryption key of a DEK secret: HMAC-SHA256(dek, "eventful data encryption v1").
DataKey DeriveDataKey(std::string_view dek);

std::shared_ptr<rocksdb::EncryptionProvider> NewAesCtrProvider(const DataKey& key);
// False when `path` exists but does not start with our prefix (a file written without encryption);
// true when it does, or when it does not exist (a new store).
bool IsEncryptedFile(const std::string& path);
// RocksDB's info log would be a plain-text file beside the encrypted ones (the encrypted Env does
// not wrap loggers): every DB we open logs through this instead — errors to stderr, the rest nowhere.
std::shared_ptr<rocksdb::Logger> NewErrorOnlyLogger();
// An Env over Env::Default() whose files are encrypted with `key`. The caller owns it and must
// keep it alive as long as any DB opened with it.
std::unique_ptr<rocksdb::Env> NewEncryptedEnv(const DataKey& key);

}  // namespace eventful::storage
