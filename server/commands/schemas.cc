// SCHEMA:CREATE, SCHEMA:ALTER, SCHEMA:REMOVE (staged), SCHEMA:MIGRATE (dry run, apply, discard),
// SCHEMA:LIST, SCHEMA:SHOW (docs/protocol.md "Schemas").
//
// Every change is a control change (storage/append.h) made on the store's committer against the
// staged registry, so staged changes, migrations and the ADDs they validate are ordered. Only an
// applied migration writes an `$audit` event: staging and discarding change nothing in force.
#include <memory>
#include <set>

#include "server/command_table.h"
#include "server/json_request.h"
#include "storage/hash.h"
#include "storage/json_text.h"
#include "storage/schema.h"

namespace eventful::server {
namespace {

using storage::SchemaChange;
using storage::SchemaMap;
using storage::SchemaRegistry;

std::string_view Arg(const CommandContext& ctx) { return ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(); }

std::string SchemaOrNull(const SchemaMap& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? "null" : storage::SchemaJson(it->second);
}

std::string ChangesJson(const std::vector<SchemaChange>& changes) { return storage::EncodeStagedChanges(changes); }

// Every aggregate whose schema differs between `before` and `after`.
std::string DiffJson(const SchemaMap& before, const SchemaMap& after) {
  std::set<std::string> names;
  for (const auto& [n, s] : before) names.insert(n);
  for (const auto& [n, s] : after) names.insert(n);
  std::string out = "[";
  bool first = true;
  for (const auto& name : names) {
    auto b = before.find(name), a = after.find(name);
    if (b != before.end() && a != after.end() && b->second == a->second) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"aggregate\":";
    storage::AppendJsonString(&out, name);
    out += ",\"action\":\"";
    out += b == before.end() ? "create" : a == after.end() ? "remove" : "alter";
    out += "\",\"before\":" + SchemaOrNull(before, name) + ",\"after\":" + SchemaOrNull(after, name) + "}";
  }
  return out + "]";
}

std::string Version(uint64_t v) { return std::to_string(v); }

constexpr size_t kMaxAuditAggregates = 100;
constexpr size_t kMaxAuditChangesBytes = 64u << 10;

// SCHEMA:CREATE / ALTER / REMOVE: checked against the pending view, then staged.
void Stage(CommandContext& ctx, std::string_view command) {
  auto change = std::make_shared<SchemaChange>();
  if (Status s = storage::ParseSchemaChange(command, Arg(ctx), change.get()); !s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  auto reply = std::make_shared<std::string>();
  storage::AppendRequest request;
  request.control = [change, reply](storage::ControlContext& c, storage::EventInput*) -> Status {
    SchemaMap view;
    if (Status s = c.schemas.PendingView(&view); !s.ok()) return s;
    if (Status s = storage::ApplySchemaChange(*change, &view); !s.ok()) return s;
    c.schemas.pending.push_back(*change);
    c.schemas_changed = true;
    *reply = "{\"staged\":" + change->Json() + ",\"pending\":" + std::to_string(c.schemas.pending.size()) + "}";
    return Status::Ok();
  };
  SubmitControl(ctx, std::move(request), [reply] { return *reply; });
}

void Create(CommandContext& ctx) { Stage(ctx, "CREATE"); }
void Alter(CommandContext& ctx) { Stage(ctx, "ALTER"); }
void Remove(CommandContext& ctx) { Stage(ctx, "REMOVE"); }

// SCHEMA:MIGRATE {"dry_run"?} | {"apply":true} | {"discard":true}
void Migrate(CommandContext& ctx) {
  ControlRequest r;
  Status s = ParseControlRequest(Arg(ctx), {"dry_run", "apply", "discard"}, &r);
  const int chosen = (r.dry_run.value_or(false) ? 1 : 0) + (r.apply.value_or(false) ? 1 : 0) +
                     (r.discard.value_or(false) ? 1 : 0);
  if (s.ok() && chosen > 1) s = Status::Err("at most one of 'dry_run', 'apply' and 'discard' may be true");
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  if (!r.apply.value_or(false) && !r.discard.value_or(false)) {
    const auto registry = ctx.server.store->Schemas();
    SchemaMap view;
    if (s = registry->PendingView(&view); !s.ok()) {
      ctx.out.Error(s.ToWire());
      return;
    }
    ctx.out.Bulk("{\"dry_run\":true,\"schema_version\":" + Version(registry->version) + ",\"changes\":" +
                 ChangesJson(registry->pending) + ",\"diff\":" + DiffJson(registry->live, view) + "}");
    return;
  }
  auto reply = std::make_shared<std::string>();
  storage::AppendRequest request;
  if (r.discard.value_or(false)) {
    request.control = [reply](storage::ControlContext& c, storage::EventInput*) -> Status {
      const size_t n = c.schemas.pending.size();
      c.schemas.pending.clear();
      c.schemas_changed = n > 0;
      *reply = "{\"discarded\":" + std::to_string(n) + ",\"schema_version\":" + Version(c.schemas.version) + "}";
      return Status::Ok();
    };
  } else {
    request.control = [reply](storage::ControlContext& c, storage::EventInput* audit) -> Status {
      SchemaRegistry& reg = c.schemas;
      if (reg.pending.empty()) {
        *reply = "{\"applied\":false,\"schema_version\":" + Version(reg.version) + ",\"changes\":[],\"diff\":[]}";
        return Status::Ok();
      }
      SchemaMap view;
      if (Status ps = reg.PendingView(&view); !ps.ok()) return ps;
      const std::string changes = ChangesJson(reg.pending);
      const size_t reg_changes = reg.pending.size();
      const std::string diff = DiffJson(reg.live, view);
      std::set<std::string> touched;
      for (const auto& change : reg.pending) {
        for (auto& a : change.Aggregates()) touched.insert(std::move(a));
      }
      // The audit event must fit the event size limit whatever was staged: the full list of changes
      // up to 64 KiB (else only its hash), at most 100 aggregate names.
      std::string aggregates;
      size_t listed = 0;
      for (const auto& a : touched) {
        if (listed++ == kMaxAuditAggregates) {
          aggregates += " (+" + std::to_string(touched.size() - kMaxAuditAggregates) + " more)";
          break;
        }
        aggregates += (aggregates.empty() ? "" : ",") + a;
      }
      reg.live = std::move(view);
      reg.pending.clear();
      ++reg.version;
      c.schemas_changed = true;
      audit->type = "schema-migrated";
      audit->data.fields = {{"aggregates", aggregates}, {"change_count", std::to_string(reg_changes)}};
      if (changes.size() <= kMaxAuditChangesBytes) audit->data.fields.emplace_back("changes", changes);
      audit->data.fields.emplace_back("changes_sha256", storage::ToHex(storage::Sha256(changes)));
      audit->data.fields.emplace_back("schema_version", Version(reg.version));
      *reply = "{\"applied\":true,\"schema_version\":" + Version(reg.version) + ",\"changes\":" + changes +
               ",\"diff\":" + diff + "}";
      return Status::Ok();
    };
  }
  SubmitControl(ctx, std::move(request), [reply] { return *reply; });
}

// SCHEMA:LIST → one entry per aggregate that is live or staged.
void List(CommandContext& ctx) {
  ControlRequest r;
  Status s = ParseControlRequest(Arg(ctx), {}, &r);
  const auto registry = ctx.server.store->Schemas();
  SchemaMap view;
  if (s.ok()) s = registry->PendingView(&view);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  std::set<std::string> names;
  for (const auto& [n, x] : registry->live) names.insert(n);
  for (const auto& [n, x] : view) names.insert(n);
  ctx.out.Array(names.size());
  for (const auto& name : names) {
    auto live = registry->live.find(name);
    auto pending = view.find(name);
    const bool is_live = live != registry->live.end();
    const storage::Schema& shown = is_live ? live->second : pending->second;
    const bool changed = !is_live || pending == view.end() || !(pending->second == live->second);
    std::string out = "{\"aggregate\":";
    storage::AppendJsonString(&out, name);
    out += ",\"event_types\":[";
    bool first = true;
    for (const auto& [type, fields] : shown.events) {
      if (!first) out += ',';
      first = false;
      storage::AppendJsonString(&out, type);
    }
    out += "],\"snapshot_threshold\":" + std::to_string(shown.snapshot_threshold) +
           ",\"locked\":" + (shown.locked ? "true" : "false") + ",\"live\":" + (is_live ? "true" : "false") +
           ",\"pending\":" + (changed ? "true" : "false") + "}";
    ctx.out.Bulk(out);
  }
}

// SCHEMA:SHOW {"aggregate"} → live and pending; {} → the export document of the live schemas.
void Show(CommandContext& ctx) {
  ControlRequest r;
  Status s = ParseControlRequest(Arg(ctx), {"aggregate"}, &r);
  const auto registry = ctx.server.store->Schemas();
  if (s.ok() && !r.aggregate) {
    std::string out = "{\"schema_version\":" + Version(registry->version) + ",\"schemas\":[";
    bool first = true;
    for (const auto& [name, schema] : registry->live) {
      if (!first) out += ',';
      first = false;
      out += storage::SchemaJson(schema);
    }
    ctx.out.Bulk(out + "]}");
    return;
  }
  SchemaMap view;
  if (s.ok()) s = registry->PendingView(&view);
  if (s.ok() && !registry->live.count(*r.aggregate) && !view.count(*r.aggregate)) {
    s = Status::Err("no schema for aggregate '" + *r.aggregate + "'");
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  const std::string live = SchemaOrNull(registry->live, *r.aggregate);
  const std::string pending = SchemaOrNull(view, *r.aggregate);
  std::string out = "{\"aggregate\":";
  storage::AppendJsonString(&out, *r.aggregate);
  out += ",\"schema_version\":" + Version(registry->version) + ",\"live\":" + live + ",\"pending\":" + pending +
         ",\"changed\":" + (live != pending ? "true" : "false") + "}";
  ctx.out.Bulk(out);
}

}  // namespace

void RegisterSchemaCommands(CommandTable& t) {
  t.Register({"SCHEMA:CREATE", 2, 2, kAdmin | kAsync, Create, "schemas", "Stages a new schema, or an import."});
  t.Register({"SCHEMA:ALTER", 2, 2, kAdmin | kAsync, Alter, "schemas", "Stages a change of a schema."});
  t.Register({"SCHEMA:REMOVE", 2, 2, kAdmin | kAsync, Remove, "schemas", "Stages the removal of an event type or schema."});
  t.Register({"SCHEMA:MIGRATE", 1, 2, kAdmin | kAsync, Migrate, "schemas",
              "Shows (dry run), applies or discards the staged schema changes."});
  t.Register({"SCHEMA:LIST", 1, 2, 0, List, "schemas", "The aggregate types with a schema."});
  t.Register({"SCHEMA:SHOW", 1, 2, 0, Show, "schemas", "One schema, live and pending; or the export document."});
}

}  // namespace eventful::server
