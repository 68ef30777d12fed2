// The RocksDB column families of the store and their key/value layouts (docs/storage.md).
//
//   events   stream_id u64 BE | version u64 BE      -> event JSON (PROTOCOL.md §5, contract order)
//   log      position u64 BE                        -> stream_id u64 BE | version u64 BE | leaf hash (32)
//   ids      event id bytes                         -> stream_id u64 BE | version u64 BE
//   hashes   raw 32-byte event hash                 -> stream_id u64 BE | version u64 BE
//   streams  stream name bytes                      -> stream_id u64 BE | Frontier (merkle.h)
//   merkle   tree u64 BE | level u8 | index u64 BE  -> raw 32-byte node (levels >= 4; tree 0 = log)
//   meta     ASCII key                              -> value (see kMeta* below)
//   tokens   token id bytes                         -> token record JSON (token.h)
//   snapshots stream_id u64 BE | version u64 BE     -> snapshot JSON (store_aggregate.cc)
//   schemas  aggregate name                         -> live schema JSON (schema.h)
//            "$pending"                             -> JSON array of staged changes
//            "$version"                             -> u64 BE schema version
//   archive  as events: the archived events (AGGREGATE:ARCHIVE, EVENT:ARCHIVE; ZSTD)
//   archived stream name bytes                      -> {"archived_at","comment","version"} (locked)
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace eventful::storage {

enum class Cf : uint8_t { kDefault, kEvents, kLog, kIds, kHashes, kStreams, kMerkle, kMeta, kTokens, kSnapshots, kSchemas, kArchive, kArchived, kCount };

inline constexpr std::array<std::string_view, static_cast<size_t>(Cf::kCount)> kCfNames = {
    "default", "events", "log", "ids", "hashes", "streams", "merkle", "meta", "tokens", "snapshots",
    "schemas", "archive", "archived"};

static_assert(kCfNames[static_cast<size_t>(Cf::kDefault)] == "default");
static_assert(kCfNames[static_cast<size_t>(Cf::kEvents)] == "events");
static_assert(kCfNames[static_cast<size_t>(Cf::kLog)] == "log");
static_assert(kCfNames[static_cast<size_t>(Cf::kIds)] == "ids");
static_assert(kCfNames[static_cast<size_t>(Cf::kHashes)] == "hashes");
static_assert(kCfNames[static_cast<size_t>(Cf::kStreams)] == "streams");
static_assert(kCfNames[static_cast<size_t>(Cf::kMerkle)] == "merkle");
static_assert(kCfNames[static_cast<size_t>(Cf::kMeta)] == "meta");
static_assert(kCfNames[static_cast<size_t>(Cf::kTokens)] == "tokens");
static_assert(kCfNames[static_cast<size_t>(Cf::kSnapshots)] == "snapshots");
static_assert(kCfNames[static_cast<size_t>(Cf::kSchemas)] == "schemas");
static_assert(kCfNames[static_cast<size_t>(Cf::kArchive)] == "archive");
static_assert(kCfNames[static_cast<size_t>(Cf::kArchived)] == "archived");

// schemas keys besides the aggregates' (which never start with '$')
inline constexpr std::string_view kSchemaPendingKey = "$pending";
inline constexpr std::string_view kSchemaVersionKey = "$version";

// meta keys
inline constexpr std::string_view kMetaFormatVersion = "format_version";  // u64 BE
inline constexpr std::string_view kMetaLogFrontier = "log_frontier";      // Frontier of the log
inline constexpr std::string_view kMetaStreamCount = "stream_count";      // u64 BE
inline constexpr std::string_view kMetaNextStreamId = "next_stream_id";   // u64 BE (ids from 1)
inline constexpr std::string_view kMetaLastAddedAt = "last_added_at";     // i64 ms as u64 BE
inline constexpr std::string_view kMetaLastEventId = "last_event_id";     // event id bytes

// The on-disk format this binary writes and reads. A newer one in the store refuses to open.
// 3: every file encrypted (encryption.h); 2: log entries carry the event's leaf hash; 1: neither.
// 1 and 2 existed only in pre-release builds.
inline constexpr uint64_t kFormatVersion = 3;
// Size of a log entry's value: the event key, then the event's leaf hash.
inline constexpr size_t kLogValueSize = 16 + 32;
// Tree id of the global log in the merkle CF; stream trees use their stream id (>= 1).
inline constexpr uint64_t kLogTreeId = 0;
// Interior nodes are stored from this level up (each covers 16 leaves). A node below it is
// recomputed from at most 16 consecutive leaf hashes — one short range read — which keeps proofs at
// O(log n) reads while writing ~2/16 nodes per event instead of ~2.
inline constexpr int kMinStoredMerkleLevel = 4;

}  // namespace eventful::storage
