#include "clients/cli/replies.h"

#include <cstdio>

#include "storage/json_text.h"

namespace eventful::cli {

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

void PrintLine(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

std::string ReplyToJson(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "null";
    case REDIS_REPLY_ARRAY: {
      std::string out = "[";
      for (size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += ',';
        out += ReplyToJson(r->element[i]);
      }
      return out + "]";
    }
    default: return storage::JsonString(Text(r));
  }
}

std::string Plain(dom::element e) {
  if (e.is_string()) return std::string(std::string_view(e.get_string().value_unsafe()));
  return simdjson::minify(e);
}

std::string Field(dom::object o, std::string_view key) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) return "";
  return Plain(e);
}

std::string JsonField(dom::object o, std::string_view key) {
  dom::element e;
  if (o.at_key(key).get(e) != simdjson::SUCCESS) return "";
  return simdjson::minify(e);
}

bool BoolField(dom::object o, std::string_view key) {
  bool value = false;
  return o.at_key(key).get_bool().get(value) == simdjson::SUCCESS && value;
}

bool ParseObject(dom::parser& parser, const redisReply* r, dom::object* out) {
  if (r->type != REDIS_REPLY_STRING ||
      parser.parse(r->str, r->len).get_object().get(*out) != simdjson::SUCCESS) {
    std::fprintf(stderr, "error: unexpected reply from the server: %s\n", ReplyToJson(r).c_str());
    return false;
  }
  return true;
}

Reply Send(Connection& c, const std::vector<std::string>& args) {
  Reply reply = c.Call(args);
  if (reply == nullptr || PrintIfError(reply.get())) return nullptr;
  return reply;
}

bool IsJsonArray(const redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY) {
    std::fprintf(stderr, "error: unexpected reply from the server: %s\n", ReplyToJson(r).c_str());
    return false;
  }
  return true;
}

int SendObject(const ConnectionOptions& connection, const std::string& command, const std::string& json,
               const std::function<void(dom::object)>& human) {
  Connection c;
  if (!c.Open(connection)) return 1;
  Reply reply = Send(c, {command, json});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object o;
  if (!ParseObject(parser, reply.get(), &o)) return 1;
  if (connection.json) {
    PrintLine(Text(reply.get()));
  } else {
    human(o);
  }
  return 0;
}

int PrintObjects(const redisReply* reply, bool json, const std::function<void(dom::object)>& human) {
  if (!IsJsonArray(reply)) return 1;
  dom::parser parser;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* e = reply->element[i];
    if (json) {
      PrintLine(Text(e));
      continue;
    }
    dom::object object;
    if (!ParseObject(parser, e, &object)) return 1;
    human(object);
  }
  return 0;
}

void PrintAdded(dom::object event) {
  std::printf("added %s v%s %s (id %s, position %s)\n", Field(event, "stream").c_str(), Field(event, "version").c_str(),
              Field(event, "type").c_str(), Field(event, "id").c_str(), Field(event, "position").c_str());
}

}  // namespace eventful::cli
