// Token records and permissions (token.h).
//
// Stored record (tokens CF value), JSON with keys in this order:
//   {"id","kind":"auth_key"|"token","name","identifier_type","identifier_id",
//    "permissions":{"read":[…],"write":[…],"admin":b},"expires_at_ms","limit","writes_used",
//    "minted_by","minted_by_id","revoked","created_at_ms","secret_hash"}
#include "storage/token.h"

#include <simdjson.h>

#include "storage/clock.h"
#include "storage/json_text.h"

namespace eventful::storage {
namespace {

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// Every stream `inner` matches is matched by `outer` (decided on the tokens; conservative).
bool PatternCovers(std::string_view outer, std::string_view inner) {
  const auto a = Split(outer), b = Split(inner);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == ">") return i < b.size();  // covers b[i..], which holds at least one token
    if (i >= b.size() || b[i] == ">") return false;
    if (a[i] == "*") {
      if (IsSystemStream(inner)) return false;  // wildcards never match system streams
      continue;
    }
    if (a[i] != b[i]) return false;
  }
  return a.size() == b.size();
}

bool MatchesAny(const std::vector<std::string>& patterns, std::string_view stream) {
  for (const auto& text : patterns) {
    Pattern p;
    std::string why;
    if (Pattern::Parse(text, &p, &why) && p.Matches(stream)) return true;
  }
  return false;
}

void AppendStringArray(std::string* out, const std::vector<std::string>& v) {
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) *out += ',';
    AppendJsonString(out, v[i]);
  }
  *out += ']';
}

const char* KindName(TokenRecord::Kind k) { return k == TokenRecord::Kind::kAuthKey ? "auth_key" : "token"; }

}  // namespace

bool Permissions::CanRead(std::string_view stream) const {
  if (IsSystemStream(stream)) return admin;
  return MatchesAny(read, stream);
}

bool Permissions::CanWrite(std::string_view stream) const { return !IsSystemStream(stream) && MatchesAny(write, stream); }

bool Permissions::ReadsAll() const {
  for (const auto& p : read) {
    if (p == ">") return true;
  }
  return false;
}

bool Permissions::Covers(const Permissions& other) const {
  if (other.admin && !admin) return false;
  auto covered = [](const std::vector<std::string>& ours, const std::vector<std::string>& theirs) {
    for (const auto& t : theirs) {
      bool any = false;
      for (const auto& o : ours) any = any || PatternCovers(o, t);
      if (!any) return false;
    }
    return true;
  };
  return covered(read, other.read) && covered(write, other.write);
}

void AppendPermissionsJson(std::string* out, const Permissions& p) {
  *out += "{\"read\":";
  AppendStringArray(out, p.read);
  *out += ",\"write\":";
  AppendStringArray(out, p.write);
  *out += p.admin ? ",\"admin\":true}" : ",\"admin\":false}";
}

std::string TokenRecord::Actor() const {
  return kind == Kind::kAuthKey ? "key:" + name : identifier_type + ":" + identifier_id;
}

std::string EncodeToken(const TokenRecord& t) {
  std::string out = "{\"id\":";
  AppendJsonString(&out, t.id);
  out += ",\"kind\":\"" + std::string(KindName(t.kind)) + "\",\"name\":";
  AppendJsonString(&out, t.name);
  out += ",\"identifier_type\":";
  AppendJsonString(&out, t.identifier_type);
  out += ",\"identifier_id\":";
  AppendJsonString(&out, t.identifier_id);
  out += ",\"permissions\":";
  AppendPermissionsJson(&out, t.permissions);
  out += ",\"expires_at_ms\":" + std::to_string(t.expires_at_ms) + ",\"limit\":" + std::to_string(t.limit) +
         ",\"writes_used\":" + std::to_string(t.writes_used) + ",\"minted_by\":";
  AppendJsonString(&out, t.minted_by);
  out += ",\"minted_by_id\":";
  AppendJsonString(&out, t.minted_by_id);
  out += t.revoked ? ",\"revoked\":true" : ",\"revoked\":false";
  out += ",\"created_at_ms\":" + std::to_string(t.created_at_ms) + ",\"secret_hash\":";
  AppendJsonString(&out, t.secret_hash);
  out += '}';
  return out;
}

bool DecodeToken(std::string_view json, TokenRecord* out) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o) != simdjson::SUCCESS) return false;
  TokenRecord t;
  auto str = [&](const char* key, std::string* v) {
    std::string_view s;
    if (o[key].get_string().get(s) != simdjson::SUCCESS) return false;
    *v = std::string(s);
    return true;
  };
  auto i64 = [&](const char* key, int64_t* v) { return o[key].get_int64().get(*v) == simdjson::SUCCESS; };
  auto u64 = [&](const char* key, uint64_t* v) { return o[key].get_uint64().get(*v) == simdjson::SUCCESS; };
  auto list = [&](simdjson::dom::object p, const char* key, std::vector<std::string>* v) {
    simdjson::dom::array a;
    if (p[key].get_array().get(a) != simdjson::SUCCESS) return false;
    for (auto e : a) {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) return false;
      v->emplace_back(s);
    }
    return true;
  };
  std::string kind;
  simdjson::dom::object perms;
  if (!str("id", &t.id) || !str("kind", &kind) || !str("name", &t.name) || !str("identifier_type", &t.identifier_type) ||
      !str("identifier_id", &t.identifier_id) || o["permissions"].get_object().get(perms) != simdjson::SUCCESS ||
      !list(perms, "read", &t.permissions.read) || !list(perms, "write", &t.permissions.write) ||
      perms["admin"].get_bool().get(t.permissions.admin) != simdjson::SUCCESS || !i64("expires_at_ms", &t.expires_at_ms) ||
      !u64("limit", &t.limit) || !u64("writes_used", &t.writes_used) || !str("minted_by", &t.minted_by) ||
      !str("minted_by_id", &t.minted_by_id) || o["revoked"].get_bool().get(t.revoked) != simdjson::SUCCESS ||
      !i64("created_at_ms", &t.created_at_ms) || !str("secret_hash", &t.secret_hash)) {
    return false;
  }
  if (kind != "auth_key" && kind != "token") return false;
  t.kind = kind == "auth_key" ? TokenRecord::Kind::kAuthKey : TokenRecord::Kind::kToken;
  *out = std::move(t);
  return true;
}

std::string TokenPublicJson(const TokenRecord& t) {
  std::string out = "{\"id\":";
  AppendJsonString(&out, t.id);
  out += ",\"kind\":\"" + std::string(KindName(t.kind)) + "\"";
  if (t.kind == TokenRecord::Kind::kAuthKey) {
    out += ",\"name\":";
    AppendJsonString(&out, t.name);
  } else {
    out += ",\"identifier_type\":";
    AppendJsonString(&out, t.identifier_type);
    out += ",\"identifier_id\":";
    AppendJsonString(&out, t.identifier_id);
  }
  out += ",\"actor\":";
  AppendJsonString(&out, t.Actor());
  out += ",\"permissions\":";
  AppendPermissionsJson(&out, t.permissions);
  out += ",\"expires_at\":";
  if (t.expires_at_ms == 0) {
    out += "null";
  } else {
    AppendJsonString(&out, FormatRfc3339Ms(t.expires_at_ms));
  }
  if (t.kind == TokenRecord::Kind::kToken) {
    out += ",\"writes_used\":" + std::to_string(t.writes_used) + ",\"limit\":" + std::to_string(t.limit);
  }
  out += ",\"minted_by\":";
  AppendJsonString(&out, t.minted_by);
  out += t.revoked ? ",\"revoked\":true" : ",\"revoked\":false";
  out += ",\"created_at\":";
  AppendJsonString(&out, FormatRfc3339Ms(t.created_at_ms));
  out += '}';
  return out;
}

const TokenRecord* TokenTable::Find(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &it->second;
}

const TokenRecord* TokenTable::FindBySecretHash(std::string_view secret_hash) const {
  auto it = by_secret_.find(std::string(secret_hash));
  return it == by_secret_.end() ? nullptr : Find(it->second);
}

const TokenRecord* TokenTable::FindAuthKeyByName(std::string_view name) const {
  auto it = by_key_name_.find(std::string(name));
  return it == by_key_name_.end() ? nullptr : Find(it->second);
}

void TokenTable::Put(const TokenRecord& t) {
  by_id_.insert_or_assign(t.id, t);
  by_secret_.insert_or_assign(t.secret_hash, t.id);
  if (t.kind == TokenRecord::Kind::kAuthKey) by_key_name_.insert_or_assign(t.name, t.id);
}

}  // namespace eventful::storage
