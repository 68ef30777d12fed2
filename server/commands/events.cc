// The event commands: ADD (group-committed, replies when durable), GET, GETALL, EVENT:GET,
// AGGREGATE:LIST. Each parses its JSON argument first (json_request.h), then touches the store.
#include <memory>

#include "server/command_table.h"
#include "server/json_request.h"
#include "storage/event.h"
#include "storage/json_text.h"

namespace eventful::server {
namespace {

std::string_view OptionalArg(const CommandContext& ctx) { return ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(); }

void WriteEvents(protocol::ReplyWriter& out, const std::vector<storage::EventRef>& events) {
  out.Array(events.size());
  for (const auto& e : events) out.Bulk(*e);
}

void Add(CommandContext& ctx) {
  storage::AppendRequest request;
  RequestLimits limits;
  limits.max_events_per_add = ctx.server.config->max_events_per_add;
  if (Status s = ParseAddRequest(ctx.argv[1], limits, &request); !s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  for (const auto& sa : request.streams) {
    if (Status s = CheckWrite(ctx.session.identity, sa.stream); !s.ok()) {
      ctx.out.Error(s.ToWire());
      return;
    }
  }
  request.actor = ctx.session.identity.actor;
  request.client = ctx.session.client_id;
  if (!ctx.session.identity.auth_key) request.charge_token = ctx.session.identity.token_id;  // tokens have budgets
  DeferredReply reply = ctx.defer();
  ctx.server.store->Append(std::move(request), [reply](Status s, std::vector<storage::EventRef> events) {
    reply([s = std::move(s), events = std::move(events)](protocol::ReplyWriter& out) {
      if (!s.ok()) {
        out.Error(s.ToWire());
      } else {
        WriteEvents(out, events);
      }
    });
  });
}

void Get(CommandContext& ctx) {
  storage::ReadRequest request;
  std::vector<storage::EventRef> events;
  Status s = ParseGetRequest(ctx.argv[1], &request);
  if (s.ok()) s = CheckRead(ctx.session.identity, request.stream);
  if (s.ok()) s = ctx.server.store->Read(request, &events);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  WriteEvents(ctx.out, events);
}

void GetAll(CommandContext& ctx) {
  GetAllRequest request;
  Status s = ParseGetAllRequest(OptionalArg(ctx), &request);
  request.filter.readable = ReadableFilter(ctx.session.identity);
  uint64_t after = 0;
  if (s.ok()) {
    if (const auto* id = std::get_if<std::string>(&request.offset)) {
      s = ctx.server.store->PositionOfId(*id, &after);
    } else {
      after = std::get<uint64_t>(request.offset);
    }
  }
  std::vector<storage::EventRef> events;
  if (s.ok()) s = ctx.server.store->ReadAll(after, request.limit, request.filter, &events);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  WriteEvents(ctx.out, events);
}

void EventGet(CommandContext& ctx) {
  EventGetRequest request;
  Status s = ParseEventGetRequest(ctx.argv[1], &request);
  storage::EventRef event;
  if (s.ok()) {
    s = request.by_hash ? ctx.server.store->GetByHash(request.key, &event) : ctx.server.store->GetById(request.key, &event);
  }
  if (s.ok() && event && !ctx.session.identity.master) {
    storage::Event e;
    std::string why;
    if (!storage::ParseEventJson(*event, &e, &why)) {
      s = Status::Err("storage corruption: stored event unreadable: " + why);
    } else {
      s = CheckRead(ctx.session.identity, e.stream);
    }
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
  } else if (!event) {
    ctx.out.Null();
  } else {
    ctx.out.Bulk(*event);
  }
}

void AggregateList(CommandContext& ctx) {
  ListRequest request;
  Status s = ParseListRequest(OptionalArg(ctx), &request);
  std::vector<storage::StreamSummary> streams;
  if (s.ok()) {
    std::function<bool(std::string_view)> visible = ReadableFilter(ctx.session.identity);
    if (request.type) {
      visible = [type = *request.type, readable = std::move(visible)](std::string_view stream) {
        return storage::Category(stream) == type && (!readable || readable(stream));
      };
    }
    s = ctx.server.store->ListStreams(request.pattern, request.after, request.limit, &streams, visible);
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  ctx.out.Array(streams.size());
  std::string json;
  for (const auto& st : streams) {
    json.clear();
    json += "{\"stream\":";
    storage::AppendJsonString(&json, st.stream);
    json += ",\"version\":" + std::to_string(st.version) + ",\"root\":\"" + st.root + "\",\"type\":";
    storage::AppendJsonString(&json, storage::Category(st.stream));
    json += ",\"created_at\":\"" + st.created_at + "\",\"updated_at\":\"" + st.updated_at +
            "\",\"snapshot_version\":" + (st.snapshot_version ? std::to_string(*st.snapshot_version) : "null") +
            ",\"archived\":" + (st.archived ? "true" : "false") + ",\"locked\":" + (st.locked ? "true" : "false") + "}";
    ctx.out.Bulk(json);
  }
}

}  // namespace

void RegisterEventCommands(CommandTable& t) {
  t.Register({"ADD", 2, 2, kWrite | kAsync, Add, "events", "Appends events to one or more streams, atomically."});
  t.Register({"GET", 2, 2, kRead, Get, "events", "Reads a stream forward or backward."});
  t.Register({"GETALL", 1, 2, kRead, GetAll, "events", "Reads the global log in position order, filtered."});
  t.Register({"EVENT:GET", 2, 2, kRead | kFast, EventGet, "events", "One event by hash or id."});
  t.Register({"AGGREGATE:LIST", 1, 2, kRead, AggregateList, "events", "Streams with their version and root."});
}

}  // namespace eventful::server
