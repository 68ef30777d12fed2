// Aggregate commands: AGGREGATE:GET (state at any version), SNAPSHOT, AGGREGATE:SNAPSHOTS, and
// archival: AGGREGATE:ARCHIVE, AGGREGATE:RESTORE, EVENT:ARCHIVE (docs/protocol.md "Archival").
#include <cstdio>

#include "server/command_table.h"
#include "server/json_request.h"
#include "storage/json_text.h"

namespace eventful::server {
namespace {

void AppendState(std::string* out, const std::vector<std::pair<std::string, std::string>>& state) {
  *out += '{';
  for (size_t i = 0; i < state.size(); ++i) {
    if (i) *out += ',';
    storage::AppendJsonString(out, state[i].first);
    *out += ':';
    storage::AppendJsonString(out, state[i].second);
  }
  *out += '}';
}

std::string Head(std::string_view stream) {
  std::string out = "{\"stream\":";
  storage::AppendJsonString(&out, stream);
  return out;
}

// AGGREGATE:GET {"stream","version"?} → {"stream","version","state","root","snapshot_version","archived","locked"}
void AggregateGet(CommandContext& ctx) {
  AggregateRequest r;
  storage::AggregateState a;
  Status s = ParseAggregateRequest(ctx.argv[1], {"version"}, &r);
  if (s.ok()) s = CheckRead(ctx.session.identity, r.stream);
  if (s.ok()) s = ctx.server.store->AggregateAt(r.stream, r.version, &a);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  for (const auto& why : a.ignored) {
    std::fprintf(stderr, "eventful: AGGREGATE:GET %s: ignored %s\n", r.stream.c_str(), why.c_str());
  }
  std::string out = Head(r.stream) + ",\"version\":" + std::to_string(a.version) + ",\"state\":";
  AppendState(&out, a.state);
  const bool archived = ctx.server.store->IsArchived(r.stream);
  const auto schemas = ctx.server.store->Schemas();
  auto schema = schemas->live.find(std::string(storage::Category(r.stream)));
  const bool locked = archived || (schema != schemas->live.end() && schema->second.locked);
  out += ",\"root\":\"" + storage::ToHex(a.root) + "\",\"snapshot_version\":" +
         (a.snapshot_version ? std::to_string(*a.snapshot_version) : "null") + ",\"archived\":" +
         (archived ? "true" : "false") + ",\"locked\":" + (locked ? "true" : "false") + "}";
  ctx.out.Bulk(out);
}

// SNAPSHOT {"stream","comment"?} → {"stream","version","root","comment","created_at","state"}
void Snapshot(CommandContext& ctx) {
  AggregateRequest r;
  storage::SnapshotInfo info;
  Status s = ParseAggregateRequest(ctx.argv[1], {"comment"}, &r);
  if (s.ok()) s = CheckWrite(ctx.session.identity, r.stream);
  if (s.ok()) s = ctx.server.store->TakeSnapshot(r.stream, r.comment, &info);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  std::string out = Head(r.stream) + ",\"version\":" + std::to_string(info.version) + ",\"root\":\"" +
                    storage::ToHex(info.root) + "\",\"comment\":";
  storage::AppendJsonString(&out, info.comment);
  out += ",\"created_at\":";
  storage::AppendJsonString(&out, info.created_at);
  out += ",\"state\":";
  AppendState(&out, info.state);
  out += '}';
  ctx.out.Bulk(out);
}

// AGGREGATE:SNAPSHOTS {"stream"} → array of {"version","root","comment","created_at"}
void Snapshots(CommandContext& ctx) {
  AggregateRequest r;
  std::vector<storage::SnapshotInfo> list;
  Status s = ParseAggregateRequest(ctx.argv[1], {}, &r);
  if (s.ok()) s = CheckRead(ctx.session.identity, r.stream);
  if (s.ok()) s = ctx.server.store->ListSnapshots(r.stream, &list);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  ctx.out.Array(list.size());
  for (const auto& info : list) {
    std::string out = "{\"version\":" + std::to_string(info.version) + ",\"root\":\"" + storage::ToHex(info.root) +
                      "\",\"comment\":";
    storage::AppendJsonString(&out, info.comment);
    out += ",\"created_at\":";
    storage::AppendJsonString(&out, info.created_at);
    out += '}';
    ctx.out.Bulk(out);
  }
}

// AGGREGATE:ARCHIVE / AGGREGATE:RESTORE {"stream","comment"?} → {"stream","version","archived","moved"}
void ArchiveOrRestore(CommandContext& ctx, storage::ArchiveOp::Kind kind) {
  AggregateRequest r;
  Status s = ParseAggregateRequest(ctx.argv[1], {"comment"}, &r);
  if (s.ok() && storage::IsSystemStream(r.stream)) s = Status::NoPerm("system stream '" + r.stream + "' cannot be archived");
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  storage::AppendRequest request;
  request.archive = storage::ArchiveOp{kind, r.stream, false, r.comment};
  auto result = std::make_shared<storage::ArchiveResult>();
  request.archive_result = result;
  const bool archived = kind == storage::ArchiveOp::Kind::kArchive;
  SubmitControl(ctx, std::move(request), [result, stream = r.stream, archived] {
    return Head(stream) + ",\"version\":" + std::to_string(result->version) + ",\"archived\":" +
           (archived ? "true" : "false") + ",\"moved\":" + std::to_string(result->moved) + "}";
  });
}

void Archive(CommandContext& ctx) { ArchiveOrRestore(ctx, storage::ArchiveOp::Kind::kArchive); }
void Restore(CommandContext& ctx) { ArchiveOrRestore(ctx, storage::ArchiveOp::Kind::kRestore); }

// EVENT:ARCHIVE {"stream"} | {"all":true} → {"moved","streams"}
void EventArchive(CommandContext& ctx) {
  ControlRequest r;
  Status s = ParseControlRequest(ctx.argv[1], {"stream", "all"}, &r);
  if (s.ok() && r.stream.has_value() == r.all.value_or(false)) {
    s = Status::Err("EVENT:ARCHIVE needs either 'stream' or \"all\":true");
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  storage::AppendRequest request;
  request.archive = storage::ArchiveOp{storage::ArchiveOp::Kind::kEvents, r.stream.value_or(""), !r.stream, ""};
  auto result = std::make_shared<storage::ArchiveResult>();
  request.archive_result = result;
  SubmitControl(ctx, std::move(request), [result] {
    return "{\"moved\":" + std::to_string(result->moved) + ",\"streams\":" + std::to_string(result->streams) + "}";
  });
}

}  // namespace

void RegisterAggregateCommands(CommandTable& t) {
  t.Register({"AGGREGATE:ARCHIVE", 2, 2, kAdmin | kAsync, Archive, "aggregates",
              "Moves a stream's events to the archive and locks the stream."});
  t.Register({"AGGREGATE:RESTORE", 2, 2, kAdmin | kAsync, Restore, "aggregates",
              "Moves an archived stream's events back and unlocks it."});
  t.Register({"EVENT:ARCHIVE", 2, 2, kAdmin | kAsync, EventArchive, "aggregates",
              "Moves a stream's (or every stream's) events to the archive, without locking."});
  t.Register({"AGGREGATE:GET", 2, 2, kRead, AggregateGet, "aggregates", "An aggregate's state at any version."});
  t.Register({"SNAPSHOT", 2, 2, kWrite, Snapshot, "aggregates", "Stores the aggregate's current state with its root."});
  t.Register({"AGGREGATE:SNAPSHOTS", 2, 2, kRead, Snapshots, "aggregates", "The snapshots of a stream."});
}

}  // namespace eventful::server
