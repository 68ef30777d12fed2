// schema:create, schema:alter, schema:remove, schema:list, schema:show, migrate, aggregate:archive,
// aggregate:restore, event:archive: each builds the JSON argument of the server command of the same
// name (SCHEMA:MIGRATE for migrate) from its flags, sends it and prints the reply — the raw JSON with
// --json, otherwise for people. The server decides every rule (docs/protocol.md "Schemas",
// "Archival"); the checks here only catch flags that cannot be expressed in the request.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cli/commands.h"
#include "clients/cli/config_home.h"
#include "clients/cli/connection.h"
#include "clients/cli/json_object.h"
#include "clients/cli/replies.h"

namespace eventful::cli {
namespace {

// "a,b" → {"a","b"}; "" → {}. An empty item ("a,,b", "a,") is an error naming `what`.
bool SplitList(const std::string& text, const std::string& what, std::vector<std::string>* out) {
  if (text.empty()) return true;
  size_t begin = 0;
  for (;;) {
    const size_t end = text.find(',', begin);
    std::string item = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (item.empty()) {
      Fail(what + " '" + text + "' has an empty name (names are separated by single commas)");
      return false;
    }
    out->push_back(std::move(item));
    if (end == std::string::npos) return true;
    begin = end + 1;
  }
}

// Reads a whole file, or stdin for "-".
bool ReadDocument(const std::string& file, std::string* out) {
  if (file == "-") {
    if (!ReadAll(STDIN_FILENO, out)) {
      PrintErrno("cannot read", "stdin");
      return false;
    }
    return true;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    Fail("cannot read " + file);
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    Fail("cannot read " + file);
    return false;
  }
  return true;
}

std::string YesNo(dom::element e) {
  bool b = false;
  if (e.get_bool().get(b) == simdjson::SUCCESS) return b ? "yes" : "no";
  return Plain(e);
}

std::string YesNoField(dom::object o, std::string_view key) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) return "-";
  return YesNo(e);
}

// A JSON array of strings as "a, b"; "-" when empty or absent.
std::string ListText(dom::element e) {
  dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return e.is_null() ? "-" : Plain(e);
  std::string out;
  for (dom::element x : a) out += (out.empty() ? "" : ", ") + Plain(x);
  return out.empty() ? "-" : out;
}

std::string ListField(dom::object o, std::string_view key) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) return "-";
  return ListText(e);
}

// A schema document, field by field, one line each, after `indent`.
void PrintSchema(dom::element schema, const std::string& indent) {
  dom::object s;
  if (schema.get_object().get(s) != simdjson::SUCCESS) {
    std::printf("%s%s\n", indent.c_str(), schema.is_null() ? "none" : Plain(schema).c_str());
    return;
  }
  dom::object events;
  if (s["events"].get_object().get(events) == simdjson::SUCCESS) {
    if (events.size() == 0) std::printf("%sno event types\n", indent.c_str());
    for (auto [type, spec] : events) {
      dom::element fields;
      std::string text = spec.at_key("fields").get(fields) == simdjson::SUCCESS ? ListText(fields) : Plain(spec);
      std::printf("%sevent %s: %s\n", indent.c_str(), std::string(type).c_str(), text.c_str());
    }
  }
  std::printf("%ssnapshot_threshold: %s\n", indent.c_str(), Field(s, "snapshot_threshold").c_str());
  std::printf("%slocked: %s\n", indent.c_str(), YesNoField(s, "locked").c_str());
  std::printf("%slocked_fields: %s\n", indent.c_str(), ListField(s, "locked_fields").c_str());
}

// The fields of each event type of a schema (absent or null schema: none).
std::vector<std::pair<std::string, std::set<std::string>>> EventTypes(dom::element schema) {
  std::vector<std::pair<std::string, std::set<std::string>>> out;
  dom::object events;
  if (schema.at_key("events").get_object().get(events) != simdjson::SUCCESS) return out;
  for (auto [type, spec] : events) {
    std::set<std::string> fields;
    dom::array a;
    if (spec.at_key("fields").get_array().get(a) == simdjson::SUCCESS) {
      for (dom::element f : a) fields.insert(Plain(f));
    }
    out.emplace_back(std::string(type), std::move(fields));
  }
  return out;
}

std::string Joined(const std::set<std::string>& names, const std::string& prefix) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : " ") + prefix + n;
  return out;
}

// What changes from `before` to `after` (either may be null), one indented line each:
//   + event patient-discharged: reason      - event patient-merged
//   ~ event patient-updated: +status -ward  snapshot_threshold: 0 -> 25
void PrintSchemaDiff(dom::element before, dom::element after) {
  const auto old_types = EventTypes(before);
  const auto new_types = EventTypes(after);
  auto find = [](const auto& types, const std::string& name) -> const std::set<std::string>* {
    for (const auto& [type, fields] : types) {
      if (type == name) return &fields;
    }
    return nullptr;
  };
  for (const auto& [type, fields] : new_types) {
    const std::set<std::string>* old_fields = find(old_types, type);
    if (old_fields == nullptr) {
      std::string names;
      for (const std::string& f : fields) names += (names.empty() ? "" : ", ") + f;
      std::printf("    + event %s: %s\n", type.c_str(), fields.empty() ? "(no fields)" : names.c_str());
      continue;
    }
    std::set<std::string> added, removed;
    for (const std::string& f : fields) {
      if (old_fields->count(f) == 0) added.insert(f);
    }
    for (const std::string& f : *old_fields) {
      if (fields.count(f) == 0) removed.insert(f);
    }
    if (added.empty() && removed.empty()) continue;
    std::string change = Joined(added, "+");
    if (!removed.empty()) change += (change.empty() ? "" : " ") + Joined(removed, "-");
    std::printf("    ~ event %s: %s\n", type.c_str(), change.c_str());
  }
  for (const auto& [type, fields] : old_types) {
    if (find(new_types, type) == nullptr) std::printf("    - event %s\n", type.c_str());
  }
  auto value = [](dom::element schema, std::string_view key, bool yes_no) -> std::string {
    dom::element e;
    if (schema.at_key(key).get(e) != simdjson::SUCCESS) return "-";
    if (key == "locked_fields") return ListText(e);
    return yes_no ? YesNo(e) : Plain(e);
  };
  for (std::string_view key : {"snapshot_threshold", "locked", "locked_fields"}) {
    const bool yes_no = key == "locked";
    const std::string was = before.is_null() ? "-" : value(before, key, yes_no);
    const std::string now = after.is_null() ? "-" : value(after, key, yes_no);
    if (was == now || after.is_null()) continue;
    if (before.is_null()) {
      // A new schema: only what differs from the defaults.
      if (now == "0" || now == "no" || now == "-") continue;
      std::printf("    %s: %s\n", std::string(key).c_str(), now.c_str());
    } else {
      std::printf("    %s: %s -> %s\n", std::string(key).c_str(), was.c_str(), now.c_str());
    }
  }
}

// SCHEMA:MIGRATE's diff, one block per aggregate: "+ patient (create)", "~ order (alter)", "- x (remove)".
void PrintDiff(dom::object reply) {
  dom::array diff;
  if (reply["diff"].get_array().get(diff) != simdjson::SUCCESS) return;
  for (dom::element entry : diff) {
    dom::object d;
    if (entry.get_object().get(d) != simdjson::SUCCESS) continue;
    const std::string action = Field(d, "action");
    const char* mark = action == "create" ? "+" : action == "remove" ? "-" : "~";
    std::printf("  %s %s (%s)\n", mark, Field(d, "aggregate").c_str(), action.c_str());
    dom::element before, after;
    if (d["before"].get(before) != simdjson::SUCCESS || d["after"].get(after) != simdjson::SUCCESS) continue;
    if (action != "remove") PrintSchemaDiff(before, after);
  }
}

uint64_t ArraySize(dom::object o, std::string_view key) {
  dom::array a;
  return o.at_key(key).get_array().get(a) == simdjson::SUCCESS ? a.size() : 0;
}

uint64_t Count(dom::object o, std::string_view key) {
  uint64_t n = 0;
  return o.at_key(key).get_uint64().get(n) == simdjson::SUCCESS ? n : 0;
}

std::string Plural(uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// {"staged":<change>,"pending":N}
void PrintStaged(dom::object reply) {
  std::printf("staged: %s\n", JsonField(reply, "staged").c_str());
  std::printf("pending: %s (review with `eventful migrate`, apply with `eventful migrate --apply`)\n",
              Field(reply, "pending").c_str());
}

}  // namespace

int RunSchemaCreate(const SchemaCreateOptions& o) {
  std::string request;
  if (o.file) {
    if (o.aggregate || !o.events.empty() || o.snapshot_threshold || o.lock || !o.lock_fields.empty()) {
      return Fail("--file sends the document as it is: give no aggregate, --event, --snapshot-threshold, --lock or "
                  "--lock-field with it");
    }
    if (!ReadDocument(*o.file, &request)) return 1;
    if (request.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Fail((*o.file == "-" ? std::string("stdin") : *o.file) + " is empty: expected a schema document");
    }
  } else {
    if (!o.aggregate) {
      return Fail("schema:create needs an aggregate (schema:create AGGREGATE --event TYPE=FIELD,... ) or --file=FILE");
    }
    std::string events = "{";
    std::set<std::string> types;
    for (const std::string& spec : o.events) {
      const size_t eq = spec.find('=');
      const std::string type = spec.substr(0, eq);
      std::vector<std::string> fields;
      if (type.empty()) return Fail("--event '" + spec + "' needs an event type: --event TYPE=FIELD,FIELD");
      if (eq != std::string::npos && !SplitList(spec.substr(eq + 1), "--event " + type + "=", &fields)) return 1;
      if (!types.insert(type).second) return Fail("event type '" + type + "' given twice");
      if (events.size() > 1) events += ',';
      storage::AppendJsonString(&events, type);
      events += ":{\"fields\":" + JsonArray(fields) + "}";
    }
    events += "}";
    JsonObject schema;
    schema.String("aggregate", *o.aggregate);
    schema.Raw("events", events);
    if (o.snapshot_threshold) schema.Number("snapshot_threshold", *o.snapshot_threshold);
    if (o.lock) schema.True("locked");
    if (!o.lock_fields.empty()) schema.Raw("locked_fields", JsonArray(o.lock_fields));
    request = schema.Done();
  }
  return SendObject(o.connection, "SCHEMA:CREATE", request, PrintStaged);
}

int RunSchemaAlter(const SchemaAlterOptions& o) {
  if (o.lock && o.unlock) return Fail("give --lock or --unlock, not both");
  JsonObject request;
  request.String("aggregate", o.aggregate);
  if (o.snapshot_threshold) request.Number("snapshot_threshold", *o.snapshot_threshold);
  if (o.lock || o.unlock) request.Bool("lock", o.lock);
  if (o.field) request.String("field", *o.field);
  if (o.event) request.String("event", *o.event);
  std::vector<std::string> add, remove;
  for (const std::string& list : o.add) {
    if (!SplitList(list, "--add", &add)) return 1;
  }
  for (const std::string& list : o.remove) {
    if (!SplitList(list, "--remove", &remove)) return 1;
  }
  if (!o.add.empty()) request.Raw("add", JsonArray(add));
  if (!o.remove.empty()) request.Raw("remove", JsonArray(remove));
  return SendObject(o.connection, "SCHEMA:ALTER", request.Done(), PrintStaged);
}

int RunSchemaRemove(const SchemaRemoveOptions& o) {
  JsonObject request;
  request.String("aggregate", o.aggregate);
  if (o.event) request.String("event", *o.event);
  return SendObject(o.connection, "SCHEMA:REMOVE", request.Done(), PrintStaged);
}

int RunSchemaList(const ConnectionOptions& connection) {
  Connection c;
  if (!c.Open(connection)) return 1;
  Reply reply = Send(c, {"SCHEMA:LIST", "{}"});
  if (reply == nullptr) return 1;
  const int rc = PrintObjects(reply.get(), connection.json, [](dom::object s) {
    std::printf("%s  events: %s  snapshot_threshold: %s  locked: %s  live: %s  pending: %s\n",
                Field(s, "aggregate").c_str(), ListField(s, "event_types").c_str(),
                Field(s, "snapshot_threshold").c_str(), YesNoField(s, "locked").c_str(),
                YesNoField(s, "live").c_str(), YesNoField(s, "pending").c_str());
  });
  if (rc == 0 && !connection.json && reply->elements == 0) std::printf("no schemas\n");
  return rc;
}

int RunSchemaShow(const SchemaShowOptions& o) {
  if (!o.aggregate) {
    Connection c;
    if (!c.Open(o.connection)) return 1;
    Reply reply = Send(c, {"SCHEMA:SHOW", "{}"});
    if (reply == nullptr) return 1;
    dom::parser parser;
    dom::object document;
    if (!ParseObject(parser, reply.get(), &document)) return 1;
    PrintLine(Text(reply.get()));  // the export document, for schema:create --file
    return 0;
  }
  JsonObject request;
  request.String("aggregate", *o.aggregate);
  return SendObject(o.connection, "SCHEMA:SHOW", request.Done(), [](dom::object s) {
    std::printf("%s (schema_version %s)\n", Field(s, "aggregate").c_str(), Field(s, "schema_version").c_str());
    dom::element live, pending;
    if (s["live"].get(live) == simdjson::SUCCESS) {
      std::printf("live:\n");
      PrintSchema(live, "  ");
    }
    if (!BoolField(s, "changed")) {
      std::printf("pending: no staged changes\n");
    } else if (s["pending"].get(pending) == simdjson::SUCCESS) {
      std::printf("pending (after `eventful migrate --apply`):\n");
      if (pending.is_null()) {
        std::printf("  removed\n");
      } else {
        PrintSchema(pending, "  ");
      }
    }
  });
}

int RunMigrate(const MigrateOptions& o) {
  if ((o.dry_run ? 1 : 0) + (o.apply ? 1 : 0) + (o.discard ? 1 : 0) > 1) {
    return Fail("give at most one of --dry-run, --apply or --discard");
  }
  JsonObject request;
  if (o.apply) request.True("apply");
  if (o.discard) request.True("discard");
  return SendObject(o.connection, "SCHEMA:MIGRATE", request.Done(), [&o](dom::object r) {
    const std::string version = Field(r, "schema_version");
    if (o.discard) {
      std::printf("discarded %s; schema_version stays %s\n",
                  Plural(Count(r, "discarded"), "staged change", "staged changes").c_str(),
                  version.c_str());
      return;
    }
    const uint64_t changes = ArraySize(r, "changes");
    if (o.apply) {
      if (!BoolField(r, "applied")) {
        std::printf("nothing to apply: no staged changes (schema_version %s)\n", version.c_str());
        return;
      }
      std::printf("applied %s: schema_version is now %s\n", Plural(changes, "change", "changes").c_str(),
                  version.c_str());
      PrintDiff(r);
      return;
    }
    if (changes == 0) {
      std::printf("no staged changes (schema_version %s)\n", version.c_str());
      return;
    }
    std::printf("%s staged (schema_version %s); dry run, nothing applied:\n",
                Plural(changes, "change", "changes").c_str(), version.c_str());
    PrintDiff(r);
    std::printf("apply with `eventful migrate --apply`, drop with `eventful migrate --discard`\n");
  });
}

namespace {

int SendArchive(const ArchiveOptions& o, const std::string& command, const char* verb) {
  JsonObject request;
  request.String("stream", o.stream);
  if (o.comment) request.String("comment", *o.comment);
  return SendObject(o.connection, command, request.Done(), [verb](dom::object r) {
    std::printf("%s %s at version %s (%s moved)\n", verb, Field(r, "stream").c_str(), Field(r, "version").c_str(),
                Plural(Count(r, "moved"), "event", "events").c_str());
  });
}

}  // namespace

int RunAggregateArchive(const ArchiveOptions& o) { return SendArchive(o, "AGGREGATE:ARCHIVE", "archived"); }

int RunAggregateRestore(const ArchiveOptions& o) { return SendArchive(o, "AGGREGATE:RESTORE", "restored"); }

int RunEventArchive(const EventArchiveOptions& o) {
  if (o.stream.has_value() == o.all) return Fail("event:archive takes exactly one of STREAM or --all");
  JsonObject request;
  if (o.stream) request.String("stream", *o.stream);
  if (o.all) request.True("all");
  return SendObject(o.connection, "EVENT:ARCHIVE", request.Done(), [](dom::object r) {
    std::printf("moved %s of %s to the archive\n",
                Plural(Count(r, "moved"), "event", "events").c_str(),
                Plural(Count(r, "streams"), "stream", "streams").c_str());
  });
}

}  // namespace eventful::cli
