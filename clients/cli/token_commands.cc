// token:generate, token:revoke, token:list, token:update, token:refresh, token:info, token:auth:
// each builds the JSON argument of the TOKEN:* command of the same name from its flags, sends it
// and prints the reply — raw JSON lines with --json, otherwise for people. The server decides
// every rule (PROTOCOL.md §8 "Tokens"); the checks here only catch missing or clashing flags
// early, with the flags' names in the message.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cli/commands.h"
#include "clients/cli/connection.h"
#include "clients/cli/json_object.h"
#include "clients/cli/replies.h"
#include "clients/cli/session_file.h"
#include "storage/clock.h"
#include "storage/json_text.h"

namespace eventful::cli {
namespace {

using storage::JsonString;

std::string PermissionsJson(const PermissionFlags& p) {
  return "{\"read\":" + JsonArray(p.read) + ",\"write\":" + JsonArray(p.write) +
         ",\"admin\":" + (p.admin ? "true" : "false") + "}";
}

// {"read":["a","b"],"write":[],"admin":false} → "read a, b | write - | admin no"
std::string PermissionsText(dom::element e) {
  dom::object p;
  if (e.get_object().get(p) != simdjson::SUCCESS) return Plain(e);
  auto patterns = [&p](std::string_view key) {
    dom::array a;
    if (p.at_key(key).get_array().get(a) != simdjson::SUCCESS) return std::string("-");
    std::string out;
    for (dom::element x : a) out += (out.empty() ? "" : ", ") + Plain(x);
    return out.empty() ? std::string("-") : out;
  };
  const bool admin = BoolField(p, "admin");
  return "read " + patterns("read") + " | write " + patterns("write") + " | admin " + (admin ? "yes" : "no");
}

// One "key: value" line per key of a token object (permissions rendered for people); `skip` is
// left out.
void PrintObject(dom::object o, std::string_view skip = {}) {
  for (auto [key, value] : o) {
    if (key == skip) continue;
    std::string text = key == "permissions" ? PermissionsText(value) : Plain(value);
    if (key == "expires_at" && value.is_null()) text = "never";
    std::printf("%-17s %s\n", (std::string(key) + ":").c_str(), text.c_str());
  }
}

// Sends `command json`, prints the single-object reply (raw with --json, else PrintObject).
int SendAndPrintObject(const ConnectionOptions& connection, const std::string& command, const std::string& json) {
  return SendObject(connection, command, json, [](dom::object o) { PrintObject(o); });
}

std::string State(dom::object t, const std::string& now) {
  if (BoolField(t, "revoked")) return "revoked";
  std::string_view expires;
  if (t["expires_at"].get_string().get(expires) == simdjson::SUCCESS && std::string(expires) <= now) return "expired";
  return "active";
}

}  // namespace

int RunTokenGenerate(const TokenGenerateOptions& o) {
  JsonObject request;
  if (o.auth_key) {
    if (!o.name) return Fail("an auth key needs a name: token:generate --auth-key --name=NAME [--read=P] [--write=P] [--admin]");
    request.True("auth_key");
    request.String("name", *o.name);
  } else {
    if (o.name) return Fail("--name is for auth keys (token:generate --auth-key --name=NAME)");
    if (!o.expiration || !o.limit || !o.identifier_type || !o.identifier_id) {
      return Fail("an access token needs --expiration=SECONDS --limit=WRITES --identifier-type=T --identifier-id=I "
                  "(or --auth-key --name=NAME for an auth key)");
    }
    request.Number("expiration", *o.expiration);
    request.Number("limit", *o.limit);
    request.String("identifier_type", *o.identifier_type);
    request.String("identifier_id", *o.identifier_id);
  }
  if (o.permissions.any()) request.Raw("permissions", PermissionsJson(o.permissions));

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"TOKEN:GENERATE", request.Done()});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object t;
  if (!ParseObject(parser, reply.get(), &t)) return 1;
  const char* secret_key = o.auth_key ? "auth_key" : "token";
  const std::string secret = Field(t, secret_key);
  if (secret.empty()) return Fail("unexpected reply from the server (no secret): " + std::string(Text(reply.get())));
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
  } else {
    std::printf("%s %s created.\n\n    %s\n\n", o.auth_key ? "Auth key" : "Access token", Field(t, "id").c_str(),
                secret.c_str());
    PrintObject(t, secret_key);
  }
  std::fflush(stdout);
  std::fprintf(stderr,
               "\nwarning: the secret is shown only once: store it now. The server keeps only a keyed hash of it and "
               "cannot show it again.\n");
  return 0;
}

int RunTokenRevoke(const TokenRevokeOptions& o) {
  const int targets = (o.token ? 1 : 0) + (o.id ? 1 : 0) + (o.auth_key ? 1 : 0);
  if (targets != 1) return Fail("token:revoke takes exactly one of --token=SECRET, --id=ID or --auth-key=SECRET_OR_NAME");
  JsonObject request;
  if (o.token) request.String("token", *o.token);
  if (o.id) request.String("id", *o.id);
  if (o.auth_key) request.String("auth_key", *o.auth_key);

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"TOKEN:REVOKE", request.Done()});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object r;
  dom::array ids;
  if (!ParseObject(parser, reply.get(), &r)) return 1;
  if (r["revoked"].get_array().get(ids) != simdjson::SUCCESS || ids.size() == 0) {
    return Fail("unexpected reply from the server: " + std::string(Text(reply.get())));
  }
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
    return 0;
  }
  std::vector<std::string> names;
  for (dom::element id : ids) names.push_back(Plain(id));
  std::printf("revoked %s\n", names[0].c_str());
  if (names.size() > 1) {
    if (names.size() == 2) {
      std::printf("and the token it minted:\n");
    } else {
      std::printf("and the %zu tokens it minted:\n", names.size() - 1);
    }
    for (size_t i = 1; i < names.size(); ++i) std::printf("  %s\n", names[i].c_str());
  }
  return 0;
}

int RunTokenList(const TokenListOptions& o) {
  constexpr uint64_t kServerDefaultTake = 100;
  if (o.auth_keys && (o.active || o.cursor || o.take)) {
    return Fail("--auth-keys lists every auth key: it takes no --active, --cursor or --take");
  }
  JsonObject request;
  if (o.auth_keys) request.True("auth_keys");
  if (o.active) request.True("active");
  if (o.cursor) request.String("cursor", *o.cursor);
  if (o.take) request.Number("take", *o.take);

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Reply reply = Send(c, {"TOKEN:LIST", request.Done()});
  if (reply == nullptr || !IsJsonArray(reply.get())) return 1;
  dom::parser parser;
  const std::string now = storage::FormatRfc3339Ms(storage::NowMs());  // orders like expires_at
  std::string last_id;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* e = reply->element[i];
    dom::object t;
    if (!ParseObject(parser, e, &t)) return 1;
    last_id = Field(t, "id");
    if (o.connection.json) {
      PrintLine(Text(e));
      continue;
    }
    dom::element permissions;
    const std::string rights = t["permissions"].get(permissions) == simdjson::SUCCESS ? PermissionsText(permissions) : "";
    if (o.auth_keys) {
      std::printf("%s  %s  %s  %s\n", last_id.c_str(), Field(t, "name").c_str(), State(t, now).c_str(), rights.c_str());
    } else {
      std::printf("%s  %s  %s  expires %s  writes %s/%s  minted by %s  %s\n", last_id.c_str(), Field(t, "actor").c_str(),
                  State(t, now).c_str(), Field(t, "expires_at").c_str(), Field(t, "writes_used").c_str(),
                  Field(t, "limit").c_str(), Field(t, "minted_by").c_str(), rights.c_str());
    }
  }
  if (o.connection.json) return 0;
  if (reply->elements == 0) {
    std::printf("no %s\n", o.auth_keys ? "auth keys" : "tokens");
  } else if (reply->elements == (o.take && *o.take != 0 ? *o.take : kServerDefaultTake)) {
    std::fprintf(stderr, "(there may be more: --cursor=%s)\n", last_id.c_str());
  }
  return 0;
}

int RunTokenUpdate(const TokenUpdateOptions& o) {
  if (!o.permissions.any()) {
    return Fail("token:update needs the auth key's new permissions: --read=PATTERN, --write=PATTERN and/or --admin "
                "(they replace the old ones)");
  }
  JsonObject request;
  request.String("auth_key", o.auth_key);
  request.Raw("permissions", PermissionsJson(o.permissions));
  return SendAndPrintObject(o.connection, "TOKEN:UPDATE", request.Done());
}

int RunTokenRefresh(const TokenRefreshOptions& o) {
  if (o.token.has_value() == o.id.has_value()) return Fail("token:refresh takes exactly one of --token=SECRET or --id=ID");
  if (!o.expiration && !o.limit) return Fail("token:refresh needs --expiration=SECONDS_TO_ADD and/or --limit=WRITES_TO_ADD");
  JsonObject request;
  if (o.token) request.String("token", *o.token);
  if (o.id) request.String("id", *o.id);
  if (o.expiration) request.Number("expiration", *o.expiration);
  if (o.limit) request.Number("limit", *o.limit);
  return SendAndPrintObject(o.connection, "TOKEN:REFRESH", request.Done());
}

int RunTokenInfo(const ConnectionOptions& connection) {
  return SendAndPrintObject(connection, "TOKEN:INFO", "{}");
}

int RunTokenAuth(const TokenAuthOptions& o) {
  if (o.logout) {
    if (o.secret || o.keep_alive) return Fail("--logout takes no secret and no --keep-alive");
    bool removed = false;
    std::string path;
    if (!RemoveSession(&removed, &path)) return 1;
    std::printf(removed ? "logged out: removed %s\n" : "not logged in: there is no %s\n", path.c_str());
    return 0;
  }
  ConnectionOptions connection = o.connection;
  if (o.secret) {
    if (o.connection.token && *o.connection.token != *o.secret) return Fail("give the secret once: as SECRET or as --token");
    connection.token = o.secret;
  }
  SecretSource source = SecretSource::kNone;
  const std::string secret = ResolveSecret(connection, &source);
  if (secret.empty()) return Fail("token:auth needs a secret: eventful token:auth SECRET [--keep-alive]");
  if (secret.find_first_of("\r\n") != std::string::npos) return Fail("a secret cannot contain a line break");
  connection.token = secret;

  Connection c;
  if (!c.Open(connection)) return 1;  // a wrong secret stops here (WRONGPASS / NOAUTH): nothing is stored
  Reply reply = Send(c, {"TOKEN:INFO", "{}"});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object info;
  if (!ParseObject(parser, reply.get(), &info)) return 1;
  std::string path;
  if (o.keep_alive && !WriteSession(secret, &path)) return 1;
  if (o.connection.json) {
    PrintLine(Text(reply.get()));
    return 0;
  }
  const std::string id = Field(info, "id");
  std::printf("authenticated as %s (%s%s%s)\n", Field(info, "actor").c_str(), Field(info, "kind").c_str(),
              id.empty() ? "" : " ", id.c_str());
  PrintObject(info);
  if (o.keep_alive) {
    std::printf("\nsession saved to %s (mode 0600): later commands authenticate with it; "
                "`eventful token:auth --logout` removes it\n", path.c_str());
  }
  return 0;
}

}  // namespace eventful::cli
