// Parse, then execute: every command's JSON argument is turned into a typed request here, with a
// precise error (PROTOCOL.md §8: ERR for shape/type, INVALID for content rules, NOPERM for system
// streams, LIMIT for sizes) before anything touches the store. The one simdjson translation unit.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "storage/append.h"
#include "storage/names.h"
#include "storage/status.h"
#include "storage/store.h"
#include "storage/token.h"

namespace eventful::server {

struct RequestLimits {
  uint64_t max_events_per_add = 10000;
};

inline constexpr uint64_t kDefaultGetLimit = 1000;
inline constexpr uint64_t kDefaultGetAllLimit = 100;
inline constexpr uint64_t kDefaultListLimit = 100;
inline constexpr uint64_t kMaxPageLimit = 10000;

Status ParseAddRequest(std::string_view json, const RequestLimits& limits, storage::AppendRequest* out);
Status ParseGetRequest(std::string_view json, storage::ReadRequest* out);

struct GetAllRequest {
  std::variant<uint64_t, std::string> offset = uint64_t{0};  // position, or event id
  uint64_t limit = kDefaultGetAllLimit;
  storage::LogFilter filter;
};
// `json` empty = no argument (all defaults).
Status ParseGetAllRequest(std::string_view json, GetAllRequest* out);

struct EventGetRequest {
  bool by_hash = false;
  std::string key;  // the hash (hex) or the id
};
Status ParseEventGetRequest(std::string_view json, EventGetRequest* out);

struct ListRequest {
  std::optional<storage::Pattern> pattern;
  std::optional<std::string> type;  // a category (aggregate type)
  std::string after;
  uint64_t limit = kDefaultListLimit;
};
Status ParseListRequest(std::string_view json, ListRequest* out);

// VERIFY and TREEHEAD {"stream"?}; `json` empty or {} = the whole store / the global log.
Status ParseStreamOrLogRequest(std::string_view json, std::optional<std::string>* stream);

// TOKEN:* arguments (docs/security.md). One shape for all of them; each command names the keys it
// accepts (others → ERR unknown key). "auth_key" is `true` in TOKEN:GENERATE (→ auth_key_flag) and
// an auth key's secret or name elsewhere (→ auth_key). Permissions' patterns are checked (INVALID).
struct TokenRequest {
  std::optional<bool> auth_key_flag;
  std::optional<std::string> auth_key, name, token, id, identifier_type, identifier_id, cursor;
  std::optional<storage::Permissions> permissions;
  std::optional<uint64_t> expiration, limit, take;
  std::optional<bool> active, auth_keys;
};
// `json` empty = no argument (all absent).
Status ParseTokenRequest(std::string_view json, std::initializer_list<std::string_view> allowed, TokenRequest* out);

// AGGREGATE:GET {"stream","version"?}, SNAPSHOT {"stream","comment"?}, AGGREGATE:SNAPSHOTS {"stream"}:
// each command names the keys it accepts besides "stream" (required).
struct AggregateRequest {
  std::string stream;
  std::optional<uint64_t> version;
  std::string comment;
};
Status ParseAggregateRequest(std::string_view json, std::initializer_list<std::string_view> allowed, AggregateRequest* out);

// PROOF {"stream","version","tree_size"?} or {"position","tree_size"?}.
struct ProofRequest {
  std::optional<std::string> stream;  // nullopt = the global log
  uint64_t leaf = 0;                  // version or position (1-based)
  std::optional<uint64_t> tree_size;
};
Status ParseProofRequest(std::string_view json, ProofRequest* out);

// CONSISTENCY {"stream"?,"from","to"?}.
struct ConsistencyRequest {
  std::optional<std::string> stream;
  uint64_t from = 0;
  std::optional<uint64_t> to;
};
Status ParseConsistencyRequest(std::string_view json, ConsistencyRequest* out);

// EVENT:ARCHIVE {"stream"} | {"all":true}, SCHEMA:SHOW {"aggregate"?}, SCHEMA:MIGRATE
// {"dry_run"?,"apply"?,"discard"?}: each command names the keys it accepts. `json` empty = none.
struct ControlRequest {
  std::optional<std::string> stream, aggregate;
  std::optional<bool> all, dry_run, apply, discard;
};
Status ParseControlRequest(std::string_view json, std::initializer_list<std::string_view> allowed, ControlRequest* out);

}  // namespace eventful::server
