// The client subcommands: build the command's JSON argument, send it as RESP words, print the
// reply — raw JSON lines with --json, otherwise a human rendering (parsed with simdjson).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cli/commands.h"
#include "clients/cli/connection.h"
#include "clients/cli/event_arguments.h"
#include "clients/cli/replies.h"
#include "storage/json_text.h"

namespace eventful::cli {
namespace {

using storage::JsonString;

constexpr int64_t kReplayPage = 1000;
constexpr int64_t kMaxPage = 10000;

// "v3 patient-updated {"status":"deceased"} (2026-11-23T10:00:00.123Z, npi:1234567)"
std::string EventLine(dom::object e) {
  return "v" + Field(e, "version") + " " + Field(e, "type") + " " + JsonField(e, "data") + " (" +
         Field(e, "added_at") + ", " + Field(e, "actor") + ")";
}

bool ExpectedVersionJson(const std::string& v, std::string* out) {
  if (v == "any" || v == "exists") {
    *out = JsonString(v);
    return true;
  }
  if (v.empty() || v.size() > 18) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  *out = std::to_string(std::stoll(v));
  return true;
}

}  // namespace

int RunEventAdd(const EventAddOptions& o) {
  EventArguments event;
  if (!ParseEventArguments("event:add", o.extras, &event)) return 1;

  std::string request = "{\"stream\":" + JsonString(o.stream);
  if (o.expected_version) {
    std::string version;
    if (!ExpectedVersionJson(*o.expected_version, &version)) {
      return Fail("--expected-version must be a number, 'any' or 'exists', not '" + *o.expected_version + "'");
    }
    request += ",\"version\":" + version;
  }
  request += ",\"events\":[{";
  if (o.id) request += "\"id\":" + JsonString(*o.id) + ",";
  request += "\"type\":" + JsonString(event.type) + ",\"data\":" + DataJson(event) + "}]}";

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"ADD", request});
  if (reply == nullptr) return 1;
  return PrintObjects(reply.get(), o.connection.json, PrintAdded);
}

int RunReplay(const ReplayOptions& o) {
  if (o.skip < 0) return Fail("--skip must not be negative");
  if (o.take && *o.take < 1) return Fail("--take must be at least 1");
  Connection c;
  if (!c.Open(o.connection)) return 1;
  dom::parser parser;
  int64_t version = o.skip;
  std::optional<int64_t> remaining = o.take;
  for (;;) {
    const int64_t page = remaining ? std::min(*remaining, kMaxPage) : kReplayPage;
    std::string request = "{\"stream\":" + JsonString(o.stream) + ",\"version\":" +
                          std::to_string(version) + ",\"limit\":" + std::to_string(page) + "}";
    Reply reply = Send(c, {"GET", request});
    if (reply == nullptr || !IsJsonArray(reply.get())) return 1;
    for (size_t i = 0; i < reply->elements; ++i) {
      const redisReply* e = reply->element[i];
      dom::object event;
      if (!ParseObject(parser, e, &event)) return 1;
      int64_t v = 0;
      if (event["version"].get_int64().get(v) != simdjson::SUCCESS || v <= version) {
        return Fail("unexpected reply from the server: event versions out of order");
      }
      version = v;
      if (o.connection.json) {
        PrintLine(Text(e));
      } else {
        PrintLine(EventLine(event));
      }
    }
    const auto n = static_cast<int64_t>(reply->elements);
    if (remaining) {
      *remaining -= n;
      if (*remaining <= 0) break;
    }
    if (n < page) break;
  }
  return 0;
}

int RunList(const ListOptions& o) {
  if (o.limit && *o.limit < 0) return Fail("--limit must not be negative");
  std::string request = "{";
  auto add = [&request](std::string_view key, const std::string& json) {
    if (request.size() > 1) request += ',';
    request += JsonString(key) + ":" + json;
  };
  if (o.pattern) add("pattern", JsonString(*o.pattern));
  if (o.after) add("after", JsonString(*o.after));
  if (o.limit) add("limit", std::to_string(*o.limit));
  request += "}";

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"AGGREGATE:LIST", request});
  if (reply == nullptr) return 1;
  return PrintObjects(reply.get(), o.connection.json, [](dom::object aggregate) {
    std::printf("%s version %s root %s\n", Field(aggregate, "stream").c_str(), Field(aggregate, "version").c_str(),
                Field(aggregate, "root").c_str());
  });
}

int RunEventGet(const EventGetOptions& o) {
  if (o.hash.has_value() == o.id.has_value()) return Fail("give either an event hash or --id=ID");
  std::string request = o.hash ? "{\"hash\":" + JsonString(*o.hash) + "}" : "{\"id\":" + JsonString(*o.id) + "}";
  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"EVENT:GET", request});
  if (reply == nullptr) return 1;
  if (reply->type == REDIS_REPLY_NIL) {
    std::fprintf(stderr, "not found\n");
    return 1;
  }
  dom::parser parser;
  dom::object event;
  if (!ParseObject(parser, reply.get(), &event)) return 1;
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
    return 0;
  }
  for (auto [key, value] : event) {
    std::printf("%-15s %s\n", (std::string(key) + ":").c_str(),
                (key == "data" || key == "metadata" ? simdjson::minify(value) : Plain(value)).c_str());
  }
  return 0;
}

int RunAggregateGet(const AggregateOptions& o) {
  std::string request = "{\"stream\":" + JsonString(o.stream);
  if (o.version) request += ",\"version\":" + std::to_string(*o.version);
  request += "}";
  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"AGGREGATE:GET", request});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object a;
  if (!ParseObject(parser, reply.get(), &a)) return 1;
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
    return 0;
  }
  const std::string snapshot = Field(a, "snapshot_version");
  std::printf("%s at version %s (root %s%s)\n", o.stream.c_str(), Field(a, "version").c_str(), Field(a, "root").c_str(),
              snapshot == "null" ? "" : (", from the snapshot at version " + snapshot).c_str());
  dom::object state;
  if (a["state"].get_object().get(state) == simdjson::SUCCESS) {
    for (auto [key, value] : state) std::printf("  %-20s %s\n", std::string(key).c_str(), Plain(value).c_str());
  }
  return 0;
}

int RunAggregateSnapshot(const AggregateOptions& o) {
  const std::string request = "{\"stream\":" + JsonString(o.stream) + ",\"comment\":" + JsonString(o.comment) + "}";
  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"SNAPSHOT", request});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object snap;
  if (!ParseObject(parser, reply.get(), &snap)) return 1;
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
  } else {
    std::printf("snapshot of %s at version %s (root %s)\n", o.stream.c_str(), Field(snap, "version").c_str(),
                Field(snap, "root").c_str());
  }
  return 0;
}

int RunVerify(const VerifyOptions& o) {
  std::string request = "{\"stream\":" + JsonString(o.stream) + "}";
  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"VERIFY", request});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object report;
  if (!ParseObject(parser, reply.get(), &report)) return 1;
  bool ok = false;
  if (report["ok"].get_bool().get(ok) != simdjson::SUCCESS) {
    return Fail("unexpected reply from the server: " + std::string(Text(reply.get())));
  }
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
  } else if (ok) {
    std::printf("OK %s version %s root %s\n", o.stream.c_str(), Field(report, "version").c_str(),
                Field(report, "root").c_str());
  } else {
    std::printf("FAILED %s first bad version %s: %s\n", o.stream.c_str(),
                Field(report, "first_bad_version").c_str(), Field(report, "reason").c_str());
  }
  return ok ? 0 : 2;
}

int RunChecksum(const ConnectionOptions& connection) {
  Connection c;
  if (!c.Open(connection)) return 1;
  Reply reply = Send(c, {"CHECKSUM"});
  if (reply == nullptr) return 1;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING ||
      reply->element[2]->type != REDIS_REPLY_INTEGER) {
    return Fail("unexpected reply from the server: " + ReplyToJson(reply.get()));
  }
  if (connection.json) {
    PrintLine(ReplyToJson(reply.get()));
    return 0;
  }
  std::string_view last = Text(reply->element[0]);
  std::printf("events:     %lld\nroot:       %.*s\nlast event: %.*s\n",
              static_cast<long long>(reply->element[2]->integer), static_cast<int>(reply->element[1]->len),
              reply->element[1]->str, static_cast<int>(last.empty() ? 1 : last.size()),
              last.empty() ? "-" : last.data());
  return 0;
}

}  // namespace eventful::cli
