// The event object of PROTOCOL.md §5 and its two encodings:
//  - the reply/storage JSON (keys in contract order: id, stream, version, position, type, data,
//    metadata, causation_id, correlation_id, added_at, actor, hash), stored verbatim in RocksDB
//    and sent as is;
//  - the canonical JSON of INTEGRITY.md (JCS, no position/hash), whose leaf hash is `hash`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/hash.h"

namespace eventful::storage {

// `data` / `metadata`: an opaque string, or an object of string (or null) values.
struct Payload {
  bool is_string = false;
  std::string text;  // when is_string
  // When !is_string: keys sorted bytewise and unique; nullopt = JSON null ("unset this field").
  std::vector<std::pair<std::string, std::optional<std::string>>> fields;

  bool operator==(const Payload&) const = default;
};

struct Event {
  std::string id;
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;
  std::string type;
  Payload data;
  Payload metadata;
  std::string causation_id;
  std::string correlation_id;
  std::string added_at;  // YYYY-MM-DDTHH:MM:SS.mmmZ
  std::string actor;
  std::string hash;  // 64 lowercase hex
};

void AppendPayloadJson(std::string* out, const Payload& p);  // {"a":"1","b":null} or "text"
// JCS of the event without position and hash (INTEGRITY.md).
std::string CanonicalJson(const Event& e);
// LeafHash(CanonicalJson(e)).
Hash ComputeEventHash(const Event& e);
// The reply/storage JSON, with e.hash as given.
std::string EventJson(const Event& e);
// Parses a stored event JSON back (VERIFY, idempotent replays). Checks that exactly the 12 keys
// are present with the right types; `why` says what is wrong otherwise.
bool ParseEventJson(std::string_view json, Event* out, std::string* why);
// The `hash` of a stored event JSON, read from its fixed tail (`,"hash":"<64 hex>"}`) without
// parsing the rest. False when the tail is not of that form.
bool StoredEventHash(std::string_view json, Hash* out);

}  // namespace eventful::storage
