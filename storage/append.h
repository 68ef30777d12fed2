// A validated ADD request, as the command layer hands it to the store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/event.h"
#include "storage/status.h"
#include "storage/token.h"

namespace eventful::storage {

struct EventInput {
  std::optional<std::string> id;  // syntax already checked
  std::string type;               // 1..255 bytes
  Payload data;
  Payload metadata;
  std::optional<std::string> causation_id;
  std::optional<std::string> correlation_id;
};

// The stored event an input becomes at (stream, version, position): the id and the defaults of
// causation_id (the event's id) and correlation_id (its causation_id). `hash` is left empty.
inline Event MakeEvent(const EventInput& in, std::string id, std::string_view stream, uint64_t version, uint64_t position,
                       std::string added_at, std::string actor) {
  Event e;
  e.id = std::move(id);
  e.stream = std::string(stream);
  e.version = version;
  e.position = position;
  e.type = in.type;
  e.data = in.data;
  e.metadata = in.metadata;
  e.causation_id = in.causation_id.value_or(e.id);
  e.correlation_id = in.correlation_id.value_or(e.causation_id);
  e.added_at = std::move(added_at);
  e.actor = std::move(actor);
  return e;
}

struct ExpectedVersion {
  enum class Kind { kAny, kExists, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // kExact only
};

struct StreamAppend {
  std::string stream;  // valid name, not a system stream, unique within the request
  ExpectedVersion expected;
  std::vector<EventInput> events;  // non-empty
};

class StagedTokens;
struct SchemaRegistry;

// What a control change may read and change, as staged by the committer.
struct ControlContext {
  StagedTokens& tokens;
  SchemaRegistry& schemas;       // a copy of the staged registry (schema.h)
  bool schemas_changed = false;  // set by a change to `schemas`: the store keeps it
};

// A control-plane change (tokens, schemas; later plugins …), made on the committer thread against
// the staged state, and recorded by one `$audit` event written in the same WriteBatch. It fills the
// audit event's type and data; an empty type writes no audit event (a schema change only staged,
// nothing in force changed). An error rejects the request whole and changes nothing.
using ControlChange = std::function<Status(ControlContext& ctx, EventInput* audit)>;

// Archival (AGGREGATE:ARCHIVE / RESTORE, EVENT:ARCHIVE): moves events between the events and the
// archive column families in one write with its `$audit` event. Runs alone in its group.
struct ArchiveOp {
  enum class Kind { kArchive, kRestore, kEvents };
  Kind kind = Kind::kArchive;
  std::string stream;  // empty with `all`
  bool all = false;    // kEvents only
  std::string comment;
};
struct ArchiveResult {
  uint64_t moved = 0;    // events moved
  uint64_t streams = 0;  // streams they belong to
  uint64_t version = 0;  // the stream's version (one stream)
};

struct AppendRequest {
  std::vector<StreamAppend> streams;  // non-empty unless `control` is set
  std::string actor;                  // recorded as the events' `actor`
  uint64_t client = 0;                // the connection it came from (group-commit batching hint)
  // An access token's id: the events are charged to its write budget in the same write (LIMIT when
  // they would exceed it; NOAUTH when it is revoked or expired at commit time).
  std::string charge_token;
  ControlChange control;
  std::optional<ArchiveOp> archive;
  std::shared_ptr<ArchiveResult> archive_result;  // filled when `archive` succeeds
};

// The token table as a request sees it while the committer stages a group: committed records,
// overlaid by the changes of earlier requests of the group and of this request.
class StagedTokens {
 public:
  StagedTokens(const TokenTable& committed, const StagedTokens* parent) : committed_(committed), parent_(parent) {}
  // Copies (or null); changes go through Put.
  std::optional<TokenRecord> Find(std::string_view id) const;
  std::optional<TokenRecord> FindBySecretHash(std::string_view secret_hash) const;
  std::optional<TokenRecord> FindAuthKeyByName(std::string_view name) const;
  void Put(TokenRecord t) { changes_.insert_or_assign(t.id, std::move(t)); }
  // Every record, current view, in no particular order.
  void ForEach(const std::function<void(const TokenRecord&)>& fn) const;
  int64_t now_ms = 0;  // the group's clock, for expiry decisions

  const std::unordered_map<std::string, TokenRecord>& changes() const { return changes_; }
  std::unordered_map<std::string, TokenRecord>& mutable_changes() { return changes_; }

 private:
  const TokenRecord* Local(std::string_view id) const;
  const TokenTable& committed_;
  const StagedTokens* parent_;
  std::unordered_map<std::string, TokenRecord> changes_;
};

}  // namespace eventful::storage
