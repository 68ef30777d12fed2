#include "storage/schema.h"

#include <simdjson.h>

#include <algorithm>
#include <set>

#include "storage/json_text.h"
#include "storage/names.h"

namespace eventful::storage {
namespace {

namespace dom = simdjson::dom;

constexpr size_t kMaxTypeBytes = 255;

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }

Status Parse(std::string_view json, dom::parser& parser, dom::object* out) {
  dom::element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root); e) {
    return Status::Err(std::string("invalid JSON argument: ") + simdjson::error_message(e));
  }
  if (root.get_object().get(*out) != simdjson::SUCCESS) return Status::Err("argument must be a JSON object");
  return Status::Ok();
}

// Rejects keys outside `allowed` and keys given twice.
Status CheckKeys(dom::object o, std::initializer_list<std::string_view> allowed) {
  std::set<std::string_view> seen;
  for (auto [key, value] : o) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return Status::Err("unknown key " + Q(key));
    if (!seen.insert(key).second) return Status::Err("duplicate key " + Q(key));
  }
  return Status::Ok();
}

bool Has(dom::object o, std::string_view key) { return o.at_key(key).error() == simdjson::SUCCESS; }

Status GetString(dom::object o, std::string_view key, std::string* out) {
  std::string_view v;
  auto field = o.at_key(key);
  if (field.error()) return Status::Err("missing key " + Q(key));
  if (field.get_string().get(v)) return Status::Err(Q(key) + " must be a string");
  *out = std::string(v);
  return Status::Ok();
}

Status GetBool(dom::object o, std::string_view key, std::optional<bool>* out) {
  auto field = o.at_key(key);
  if (field.error()) return Status::Ok();
  bool b = false;
  if (field.get_bool().get(b)) return Status::Err(Q(key) + " must be true or false");
  *out = b;
  return Status::Ok();
}

Status GetCount(dom::object o, std::string_view key, std::optional<uint64_t>* out) {
  auto field = o.at_key(key);
  if (field.error()) return Status::Ok();
  uint64_t n = 0;
  if (field.get_uint64().get(n)) return Status::Err(Q(key) + " must be a non-negative integer");
  *out = n;
  return Status::Ok();
}

Status CheckAggregateName(std::string_view name) {
  std::string why;
  if (name.empty() || IsSystemStream(name) || name.find('.') != std::string_view::npos || !ValidStreamName(name, &why)) {
    return Status::Invalid("aggregate name " + Q(name) + " must be one stream-name token (A-Z a-z 0-9 _ - : @ + = ~ !)");
  }
  return Status::Ok();
}

Status CheckEventType(std::string_view type) {
  if (type.empty() || type.size() > kMaxTypeBytes) return Status::Invalid("event type must be 1 to 255 bytes");
  return Status::Ok();
}

// A JSON array of field names → sorted, unique.
Status GetFields(dom::element value, std::string_view what, std::vector<std::string>* out) {
  dom::array arr;
  if (value.get_array().get(arr)) return Status::Err(Q(what) + " must be an array of field names");
  out->clear();
  for (dom::element item : arr) {
    std::string_view name;
    if (item.get_string().get(name)) return Status::Err(Q(what) + " must be an array of field names");
    if (!ValidFieldName(name)) return Status::Invalid("bad field name " + Q(name));
    out->emplace_back(name);
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return Status::Ok();
}

Status ParseSchemaObject(dom::object o, bool allow_op, Schema* out) {
  Status s = allow_op ? CheckKeys(o, {"op", "aggregate", "events", "snapshot_threshold", "locked", "locked_fields"})
                      : CheckKeys(o, {"aggregate", "events", "snapshot_threshold", "locked", "locked_fields"});
  if (!s.ok()) return s;
  *out = Schema{};
  if (s = GetString(o, "aggregate", &out->aggregate); !s.ok()) return s;
  if (s = CheckAggregateName(out->aggregate); !s.ok()) return s;
  dom::object events;
  auto ev = o.at_key("events");
  if (ev.error()) return Status::Err("missing key 'events'");
  if (ev.get_object().get(events)) return Status::Err("'events' must be an object of event type -> {\"fields\":[…]}");
  for (auto [type, spec] : events) {
    if (s = CheckEventType(type); !s.ok()) return s;
    if (out->events.count(std::string(type))) return Status::Err("duplicate key " + Q(type));
    dom::object spec_obj;
    if (spec.get_object().get(spec_obj)) return Status::Err("event type " + Q(type) + " must be an object {\"fields\":[…]}");
    if (s = CheckKeys(spec_obj, {"fields"}); !s.ok()) return s;
    std::vector<std::string> fields;
    if (auto f = spec_obj.at_key("fields"); !f.error()) {
      if (s = GetFields(f.value_unsafe(), "fields", &fields); !s.ok()) return s;
    }
    out->events.emplace(std::string(type), std::move(fields));
  }
  std::optional<uint64_t> threshold;
  std::optional<bool> locked;
  if (s = GetCount(o, "snapshot_threshold", &threshold); !s.ok()) return s;
  if (s = GetBool(o, "locked", &locked); !s.ok()) return s;
  out->snapshot_threshold = threshold.value_or(0);
  out->locked = locked.value_or(false);
  if (auto f = o.at_key("locked_fields"); !f.error()) {
    if (s = GetFields(f.value_unsafe(), "locked_fields", &out->locked_fields); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ParseChangeObject(std::string_view command, dom::object o, bool stored, SchemaChange* out) {
  *out = SchemaChange{};
  Status s;
  if (command == "CREATE") {
    if (Has(o, "schemas")) {
      out->op = SchemaChange::Op::kImport;
      s = stored ? CheckKeys(o, {"op", "schemas", "schema_version"}) : CheckKeys(o, {"schemas", "schema_version"});
      if (!s.ok()) return s;
      std::optional<uint64_t> version;
      if (s = GetCount(o, "schema_version", &version); !s.ok()) return s;
      dom::array arr;
      if (o.at_key("schemas").get_array().get(arr)) return Status::Err("'schemas' must be an array of schema documents");
      std::set<std::string> names;
      for (dom::element item : arr) {
        dom::object so;
        if (item.get_object().get(so)) return Status::Err("'schemas' must be an array of schema documents");
        Schema schema;
        if (s = ParseSchemaObject(so, false, &schema); !s.ok()) return s;
        if (!names.insert(schema.aggregate).second) {
          return Status::Err("aggregate " + Q(schema.aggregate) + " appears twice in the document");
        }
        out->schemas.push_back(std::move(schema));
      }
      return Status::Ok();
    }
    out->op = SchemaChange::Op::kCreate;
    out->schemas.emplace_back();
    return ParseSchemaObject(o, stored, &out->schemas.back());
  }
  if (command == "ALTER") {
    out->op = SchemaChange::Op::kAlter;
    s = stored ? CheckKeys(o, {"op", "aggregate", "snapshot_threshold", "lock", "field", "event", "add", "remove"})
               : CheckKeys(o, {"aggregate", "snapshot_threshold", "lock", "field", "event", "add", "remove"});
    if (!s.ok()) return s;
    if (s = GetString(o, "aggregate", &out->aggregate); !s.ok()) return s;
    if (s = CheckAggregateName(out->aggregate); !s.ok()) return s;
    if (s = GetCount(o, "snapshot_threshold", &out->snapshot_threshold); !s.ok()) return s;
    if (s = GetBool(o, "lock", &out->lock); !s.ok()) return s;
    if (Has(o, "field")) {
      std::string field;
      if (s = GetString(o, "field", &field); !s.ok()) return s;
      if (!ValidFieldName(field)) return Status::Invalid("bad field name " + Q(field));
      if (!out->lock) return Status::Err("'field' needs 'lock' (true to lock the field, false to unlock it)");
      out->field = std::move(field);
    }
    if (Has(o, "event")) {
      std::string event;
      if (s = GetString(o, "event", &event); !s.ok()) return s;
      if (s = CheckEventType(event); !s.ok()) return s;
      out->event = std::move(event);
    }
    for (std::string_view key : {"add", "remove"}) {
      auto f = o.at_key(key);
      if (f.error()) continue;
      std::vector<std::string> fields;
      if (s = GetFields(f.value_unsafe(), key, &fields); !s.ok()) return s;
      (key == "add" ? out->add : out->remove) = std::move(fields);
    }
    if ((out->add || out->remove) && !out->event) return Status::Err("'add' and 'remove' need 'event'");
    if (out->event && !out->add && !out->remove) return Status::Err("'event' needs 'add' or 'remove'");
    if (!out->snapshot_threshold && !out->lock && !out->event) {
      return Status::Err("SCHEMA:ALTER needs 'snapshot_threshold', 'lock' or 'event' with 'add'/'remove'");
    }
    return Status::Ok();
  }
  if (command == "REMOVE") {
    out->op = SchemaChange::Op::kRemove;
    s = stored ? CheckKeys(o, {"op", "aggregate", "event"}) : CheckKeys(o, {"aggregate", "event"});
    if (!s.ok()) return s;
    if (s = GetString(o, "aggregate", &out->aggregate); !s.ok()) return s;
    if (s = CheckAggregateName(out->aggregate); !s.ok()) return s;
    if (Has(o, "event")) {
      std::string event;
      if (s = GetString(o, "event", &event); !s.ok()) return s;
      if (s = CheckEventType(event); !s.ok()) return s;
      out->event = std::move(event);
    }
    return Status::Ok();
  }
  return Status::Err("unknown schema change " + Q(command));
}

void AppendStrings(std::string* out, const std::vector<std::string>& v) {
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) *out += ',';
    AppendJsonString(out, v[i]);
  }
  *out += ']';
}

// The document's members without the braces.
std::string SchemaMembers(const Schema& s) {
  std::string out = "\"aggregate\":";
  AppendJsonString(&out, s.aggregate);
  out += ",\"events\":{";
  bool first = true;
  for (const auto& [type, fields] : s.events) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, type);
    out += ":{\"fields\":";
    AppendStrings(&out, fields);
    out += '}';
  }
  out += "},\"snapshot_threshold\":" + std::to_string(s.snapshot_threshold) +
         ",\"locked\":" + (s.locked ? "true" : "false") + ",\"locked_fields\":";
  AppendStrings(&out, s.locked_fields);
  return out;
}

void Insert(std::vector<std::string>* v, const std::string& x) {
  auto it = std::lower_bound(v->begin(), v->end(), x);
  if (it == v->end() || *it != x) v->insert(it, x);
}

}  // namespace

std::string SchemaJson(const Schema& schema) { return "{" + SchemaMembers(schema) + "}"; }

std::string SchemaChange::Json() const {
  std::string out = "{\"op\":";
  switch (op) {
    case Op::kCreate:
      return out + "\"create\"," + SchemaMembers(schemas.front()) + "}";
    case Op::kImport: {
      out += "\"import\",\"schemas\":[";
      for (size_t i = 0; i < schemas.size(); ++i) {
        if (i) out += ',';
        out += SchemaJson(schemas[i]);
      }
      return out + "]}";
    }
    case Op::kAlter:
    case Op::kRemove:
      break;
  }
  out += op == Op::kAlter ? "\"alter\",\"aggregate\":" : "\"remove\",\"aggregate\":";
  AppendJsonString(&out, aggregate);
  if (snapshot_threshold) out += ",\"snapshot_threshold\":" + std::to_string(*snapshot_threshold);
  if (lock) out += std::string(",\"lock\":") + (*lock ? "true" : "false");
  if (field) {
    out += ",\"field\":";
    AppendJsonString(&out, *field);
  }
  if (event) {
    out += ",\"event\":";
    AppendJsonString(&out, *event);
  }
  if (add) {
    out += ",\"add\":";
    AppendStrings(&out, *add);
  }
  if (remove) {
    out += ",\"remove\":";
    AppendStrings(&out, *remove);
  }
  return out + "}";
}

std::vector<std::string> SchemaChange::Aggregates() const {
  if (op == Op::kAlter || op == Op::kRemove) return {aggregate};
  std::vector<std::string> out;
  for (const auto& s : schemas) out.push_back(s.aggregate);
  return out;
}

Status ParseSchemaChange(std::string_view command, std::string_view json, SchemaChange* out) {
  dom::parser parser;
  dom::object o;
  if (Status s = Parse(json, parser, &o); !s.ok()) return s;
  return ParseChangeObject(command, o, false, out);
}

namespace {

Status ParseStoredObject(dom::object o, SchemaChange* out) {
  std::string op;
  if (Status s = GetString(o, "op", &op); !s.ok()) return s;
  const std::string_view command = op == "create" || op == "import" ? "CREATE" : op == "alter" ? "ALTER"
                                   : op == "remove"                 ? "REMOVE"
                                                                    : "";
  Status s = ParseChangeObject(command, o, true, out);
  if (s.ok() && (op == "import") != (out->op == SchemaChange::Op::kImport)) return Status::Err("bad staged change");
  return s;
}

}  // namespace

Status ParseStoredSchemaChange(std::string_view json, SchemaChange* out) {
  dom::parser parser;
  dom::object o;
  if (Status s = Parse(json, parser, &o); !s.ok()) return s;
  return ParseStoredObject(o, out);
}

std::string EncodeStagedChanges(const std::vector<SchemaChange>& changes) {
  std::string out = "[";
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i) out += ',';
    out += changes[i].Json();
  }
  return out + "]";
}

Status DecodeStagedChanges(std::string_view json, std::vector<SchemaChange>* out) {
  out->clear();
  dom::parser parser;
  dom::array arr;
  if (parser.parse(json.data(), json.size()).get_array().get(arr)) return Status::Err("not a JSON array");
  for (dom::element item : arr) {
    dom::object o;
    if (item.get_object().get(o)) return Status::Err("not an array of objects");
    SchemaChange c;
    if (Status s = ParseStoredObject(o, &c); !s.ok()) return s;
    out->push_back(std::move(c));
  }
  return Status::Ok();
}

Status ParseSchemaJson(std::string_view json, Schema* out) {
  dom::parser parser;
  dom::object o;
  if (Status s = Parse(json, parser, &o); !s.ok()) return s;
  return ParseSchemaObject(o, false, out);
}

Status ApplySchemaChange(const SchemaChange& change, SchemaMap* schemas) {
  using Op = SchemaChange::Op;
  if (change.op == Op::kCreate) {
    const Schema& s = change.schemas.front();
    if (schemas->count(s.aggregate)) {
      return Status::Err("schema " + Q(s.aggregate) + " already exists (change it with SCHEMA:ALTER)");
    }
    schemas->emplace(s.aggregate, s);
    return Status::Ok();
  }
  if (change.op == Op::kImport) {
    for (const auto& s : change.schemas) schemas->insert_or_assign(s.aggregate, s);
    return Status::Ok();
  }
  auto it = schemas->find(change.aggregate);
  if (it == schemas->end()) return Status::Err("no schema for aggregate " + Q(change.aggregate));
  Schema& schema = it->second;
  if (change.op == Op::kRemove) {
    if (!change.event) {
      schemas->erase(it);
      return Status::Ok();
    }
    if (!schema.events.erase(*change.event)) {
      return Status::Err("aggregate " + Q(change.aggregate) + " has no event type " + Q(*change.event));
    }
    return Status::Ok();
  }
  if (change.snapshot_threshold) schema.snapshot_threshold = *change.snapshot_threshold;
  if (change.lock && change.field) {
    auto& lf = schema.locked_fields;
    if (*change.lock) {
      Insert(&lf, *change.field);
    } else {
      lf.erase(std::remove(lf.begin(), lf.end(), *change.field), lf.end());
    }
  } else if (change.lock) {
    schema.locked = *change.lock;
  }
  if (change.event) {
    auto ev = schema.events.find(*change.event);
    if (ev == schema.events.end()) {
      if (!change.add) {
        return Status::Err("aggregate " + Q(change.aggregate) + " has no event type " + Q(*change.event));
      }
      ev = schema.events.emplace(*change.event, std::vector<std::string>{}).first;
    }
    if (change.remove) {
      for (const auto& f : *change.remove) {
        auto pos = std::find(ev->second.begin(), ev->second.end(), f);
        if (pos == ev->second.end()) {
          return Status::Err("event type " + Q(*change.event) + " of aggregate " + Q(change.aggregate) +
                             " has no field " + Q(f));
        }
        ev->second.erase(pos);
      }
    }
    if (change.add) {
      for (const auto& f : *change.add) Insert(&ev->second, f);
    }
  }
  return Status::Ok();
}

Status SchemaRegistry::PendingView(SchemaMap* out) const {
  *out = live;
  for (const auto& c : pending) {
    if (Status s = ApplySchemaChange(c, out); !s.ok()) return s;
  }
  return Status::Ok();
}

Status ValidateAgainstSchemas(const SchemaMap& live, bool strict, const StreamAppend& append) {
  if (IsSystemStream(append.stream)) return Status::Ok();
  const std::string category(Category(append.stream));
  auto it = live.find(category);
  if (it == live.end()) {
    if (!strict) return Status::Ok();
    return Status::Invalid("no schema for aggregate " + Q(category) + " (the server runs with strict_schemas)");
  }
  const Schema& schema = it->second;
  if (schema.locked) return {Code::kLocked, "aggregate " + Q(category) + " is locked"};
  // Locked fields first, whatever the order of the fields, as the rules are listed.
  for (const auto& ev : append.events) {
    if (ev.data.is_string || !schema.events.count(ev.type)) continue;
    for (const auto& [name, value] : ev.data.fields) {
      if (std::binary_search(schema.locked_fields.begin(), schema.locked_fields.end(), name)) {
        return {Code::kLocked, "field " + Q(name) + " is locked"};
      }
    }
  }
  for (const auto& ev : append.events) {
    auto type = schema.events.find(ev.type);
    if (type == schema.events.end()) {
      return Status::Invalid("unknown event type " + Q(ev.type) + " for aggregate " + Q(category));
    }
    if (ev.data.is_string) {
      return Status::Invalid("event type " + Q(ev.type) + " of aggregate " + Q(category) + " needs object data");
    }
    for (const auto& [name, value] : ev.data.fields) {
      if (!std::binary_search(type->second.begin(), type->second.end(), name)) {
        return Status::Invalid("field " + Q(name) + " is not declared for event type " + Q(ev.type) +
                               " of aggregate " + Q(category));
      }
    }
  }
  return Status::Ok();
}

}  // namespace eventful::storage
