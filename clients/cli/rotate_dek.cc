// `eventful config --rotate-dek --dek=OLD --new-dek=NEW`: re-encrypts a stopped server's store
// under a new DEK, crash-safely.
//
//   1. Check OLD against config.toml; open the tree-head and token keys with it.
//   2. Remove leftovers of an interrupted rotation: store directories (db*) config.toml does not name.
//   3. Copy every column family, key by key, from <data>/<store_dir> (opened with OLD; this also
//      takes RocksDB's lock, so a running server is refused) into a new <data>/db-<ms> encrypted
//      with NEW; flush and sync it; re-read both and compare a digest of every key and value.
//   4. Write config.toml atomically (rename) with NEW's check value, the same tree-head and token
//      keys sealed with NEW, and store_dir = the new directory. This rename is the switch.
//   5. Remove the old store directory.
//
// Killed before 4, the old config and store are untouched (the store opens with OLD); killed after,
// the new ones are complete (it opens with NEW). Either way nothing is lost. The test hook
// EVENTFUL_TEST_CRASH_AT=copy|switch kills the process (SIGKILL) inside step 3 / right after step 4.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "clients/cli/commands.h"
#include "server/config.h"
#include "server/secrets.h"
#include "server/treehead_key.h"
#include "storage/clock.h"
#include "storage/column_families.h"
#include "storage/encryption.h"
#include "storage/hash.h"

namespace eventful::cli {
namespace {

namespace fs = std::filesystem;

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

// The names store directories get: "db" (the first) and "db-<ms>" (each rotation). Only those are
// ever removed as leftovers.
bool IsStoreDirName(const std::string& name) {
  if (name == "db") return true;
  if (name.size() < 4 || name.rfind("db-", 0) != 0) return false;
  return name.find_first_not_of("0123456789", 3) == std::string::npos;
}

void CrashHook(std::string_view point) {
  const char* at = std::getenv("EVENTFUL_TEST_CRASH_AT");
  if (at != nullptr && point == at) std::raise(SIGKILL);
}

// One RocksDB database with every column family, through an encrypted Env.
class RawDb {
 public:
  ~RawDb() { Close(); }
  Status Open(const std::string& path, const std::string& dek, bool create) {
    env_ = storage::NewEncryptedEnv(storage::DeriveDataKey(dek));
    rocksdb::Options options;
    options.env = env_.get();
    options.info_log = storage::NewErrorOnlyLogger();
    options.create_if_missing = create;
    options.error_if_exists = create;
    options.create_missing_column_families = true;
    options.paranoid_checks = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (std::string_view name : storage::kCfNames) descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, path, descriptors, &handles_, &raw);
    if (!s.ok()) return Status::Err("opening " + path + ": " + s.ToString());
    db_.reset(raw);
    return Status::Ok();
  }
  void Close() {
    if (!db_) return;
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    (void)db_->Close();
    db_.reset();
  }
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* cf(size_t i) const { return handles_[i]; }

 private:
  std::unique_ptr<rocksdb::Env> env_;  // outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// SHA-256 over every (cf, key, value) in order: two stores with equal digests hold the same data.
Status Digest(const RawDb& db, std::string* hex, uint64_t* entries) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) return Status::Err("no SHA-256");
  *entries = 0;
  auto add = [&](const char* p, size_t n) {
    const uint64_t len = n;
    EVP_DigestUpdate(md.get(), &len, sizeof len);
    EVP_DigestUpdate(md.get(), p, n);
  };
  for (size_t c = 0; c < storage::kCfNames.size(); ++c) {
    add(storage::kCfNames[c].data(), storage::kCfNames[c].size());
    std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.cf(c)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      add(it->key().data(), it->key().size());
      add(it->value().data(), it->value().size());
      ++*entries;
    }
    if (!it->status().ok()) return Status::Err("reading the store: " + it->status().ToString());
  }
  storage::Hash h;
  unsigned int len = 0;
  EVP_DigestFinal_ex(md.get(), h.data(), &len);
  *hex = storage::ToHex(h);
  return Status::Ok();
}

Status Copy(const RawDb& from, const RawDb& to, uint64_t* copied) {
  constexpr size_t kBatchBytes = 4u << 20;
  *copied = 0;
  bool first_batch = true;
  for (size_t c = 0; c < storage::kCfNames.size(); ++c) {
    std::unique_ptr<rocksdb::Iterator> it(from.db()->NewIterator(rocksdb::ReadOptions(), from.cf(c)));
    rocksdb::WriteBatch batch;
    auto flush = [&]() -> Status {
      if (batch.Count() == 0) return Status::Ok();
      rocksdb::Status s = to.db()->Write(rocksdb::WriteOptions(), &batch);
      if (!s.ok()) return Status::Err("writing the new store: " + s.ToString());
      batch.Clear();
      if (first_batch) CrashHook("copy");
      first_batch = false;
      return Status::Ok();
    };
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      (void)batch.Put(to.cf(c), it->key(), it->value());
      ++*copied;
      if (batch.GetDataSize() >= kBatchBytes) {
        if (Status s = flush(); !s.ok()) return s;
      }
    }
    if (!it->status().ok()) return Status::Err("reading the store: " + it->status().ToString());
    if (Status s = flush(); !s.ok()) return s;
  }
  // Durable before the switch: memtables flushed to (encrypted) SST files, WAL synced.
  rocksdb::FlushOptions fo;
  fo.wait = true;
  for (size_t c = 0; c < storage::kCfNames.size(); ++c) {
    if (rocksdb::Status s = to.db()->Flush(fo, to.cf(c)); !s.ok()) return Status::Err("flushing: " + s.ToString());
  }
  if (rocksdb::Status s = to.db()->FlushWAL(true); !s.ok()) return Status::Err("syncing: " + s.ToString());
  return Status::Ok();
}

}  // namespace

int RunRotateDek(const ConfigOptions& o) {
  if (!o.rotate_dek) return Fail("--new-dek goes with --rotate-dek");
  if (!o.dek || o.dek->empty()) return Fail("--rotate-dek needs the current key: --dek=OLD");
  if (!o.new_dek || o.new_dek->empty()) return Fail("--rotate-dek needs the new key: --new-dek=NEW");
  if (*o.dek == *o.new_dek) return Fail("--new-dek is the same as --dek");
  if (o.master_key || o.generate || o.port || o.bind || o.io_threads || o.memory_threshold) {
    return Fail("--rotate-dek changes only the data encryption key: give no other setting with it");
  }
  server::ServerConfig config;
  if (Status s = server::LoadConfig(o.data_dir, &config); !s.ok()) return Fail(s.message());
  if (!server::VerifySecretCheck(config.dek_check, *o.dek)) return Fail("wrong data encryption key (--dek)");

  // 1. The keys sealed with the DEK, opened with OLD (they are kept, only resealed).
  server::TreeheadKey treehead;
  if (Status s = server::OpenTreeheadKey(config.treehead_private_key, config.treehead_public_key, *o.dek, &treehead);
      !s.ok()) {
    return Fail(s.message());
  }
  server::Key32 token_key{};
  if (config.token_key.empty()) {
    if (RAND_bytes(token_key.data(), token_key.size()) != 1) return Fail("no randomness for the token key");
  } else if (Status s = server::UnsealKey(config.token_key, *o.dek, server::kTokenKeyLabel, &token_key); !s.ok()) {
    return Fail(s.message());
  }

  // 2. Leftovers of an interrupted rotation.
  const fs::path data(config.data_dir);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && IsStoreDirName(name) && name != config.store_dir) {
      std::printf("removing %s, left by an interrupted rotation\n", entry.path().c_str());
      fs::remove_all(entry.path(), ec);
    }
  }

  // 3. Copy into a new store encrypted with NEW, and check it.
  const std::string old_dir = config.StorePath();
  const std::string new_name = "db-" + std::to_string(storage::NowMs());
  const std::string new_dir = (data / new_name).string();
  std::string before, after;
  uint64_t copied = 0, entries_before = 0, entries_after = 0;
  {
    RawDb from, to;
    if (Status s = from.Open(old_dir, *o.dek, false); !s.ok()) {
      if (s.message().find("lock") != std::string::npos) {
        return Fail("the store is in use: stop the server first (eventful stop --data-dir=" + o.data_dir + ")");
      }
      return Fail(s.message());
    }
    if (Status s = Digest(from, &before, &entries_before); !s.ok()) return Fail(s.message());
    if (Status s = to.Open(new_dir, *o.new_dek, true); !s.ok()) return Fail(s.message());
    if (Status s = Copy(from, to, &copied); !s.ok()) return Fail(s.message());
  }
  {
    RawDb check;
    if (Status s = check.Open(new_dir, *o.new_dek, false); !s.ok()) return Fail("re-reading the new store: " + s.message());
    if (Status s = Digest(check, &after, &entries_after); !s.ok()) return Fail(s.message());
  }
  if (before != after || entries_before != entries_after) {
    fs::remove_all(new_dir, ec);
    return Fail("the re-encrypted copy does not match the store; nothing was changed");
  }

  // 4. The switch: config.toml names the new store, with NEW's check value and resealed keys.
  server::ServerConfig next = config;
  next.dek_check = server::MakeSecretCheck(*o.new_dek);
  next.store_dir = new_name;
  Status s = server::SealTreeheadKey(*o.new_dek, treehead.private_raw, &next.treehead_private_key);
  if (s.ok()) s = server::SealKey(*o.new_dek, server::kTokenKeyLabel, token_key, &next.token_key);
  OPENSSL_cleanse(treehead.private_raw.data(), treehead.private_raw.size());
  OPENSSL_cleanse(token_key.data(), token_key.size());
  if (s.ok()) s = server::SaveConfig(next);
  if (!s.ok()) {
    fs::remove_all(new_dir, ec);
    return Fail(s.message());
  }
  CrashHook("switch");

  // 5. The old store, readable with OLD, goes.
  fs::remove_all(old_dir, ec);
  if (ec) std::fprintf(stderr, "warning: could not remove the old store %s: %s\n", old_dir.c_str(), ec.message().c_str());
  std::printf("re-encrypted %llu records with the new data encryption key into %s\n"
              "start the server with the new key from now on (EVENTFUL_DEK or --dek-file)\n",
              static_cast<unsigned long long>(copied), new_dir.c_str());
  return 0;
}

}  // namespace eventful::cli
