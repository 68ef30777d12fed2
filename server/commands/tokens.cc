// TOKEN:GENERATE, TOKEN:REVOKE, TOKEN:LIST, TOKEN:UPDATE, TOKEN:REFRESH, TOKEN:INFO
// (docs/security.md).
//
// Every change is a control change (storage/append.h): it runs on the store's committer against
// the staged token table, so it is decided against every change committed before it, and it is
// written in the same WriteBatch as the one `$audit` event that records it.
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "server/command_table.h"
#include "server/json_request.h"
#include "server/secrets.h"
#include "storage/clock.h"
#include "storage/json_text.h"

namespace eventful::server {
namespace {

using storage::EventInput;
using storage::Permissions;
using storage::StagedTokens;
using storage::TokenRecord;

constexpr uint64_t kDefaultTake = 100;
constexpr uint64_t kMaxTake = 10000;
constexpr uint64_t kMaxExpirationSeconds = 10ull * 366 * 24 * 3600;  // ten years

std::string_view Arg(const CommandContext& ctx) { return ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(); }

std::string NewId(std::string_view prefix) {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
  return std::string(prefix) + Base64Url(bytes, sizeof bytes);
}

std::string PermissionsText(const Permissions& p) {
  std::string out;
  storage::AppendPermissionsJson(&out, p);
  return out;
}

// The $audit event of a control action: type, and data fields (strings) describing it.
void Audit(EventInput* audit, std::string type, std::vector<std::pair<std::string, std::string>> fields) {
  audit->type = std::move(type);
  std::sort(fields.begin(), fields.end());
  for (auto& [k, v] : fields) audit->data.fields.emplace_back(std::move(k), std::move(v));
}

// What the caller is, as the staged table sees it now (its rights may have changed since AUTH).
struct Caller {
  bool master = false;
  bool admin = false;
  std::optional<TokenRecord> record;  // auth key or token
  bool is_auth_key() const { return record && record->kind == TokenRecord::Kind::kAuthKey; }
  std::string id() const { return record ? record->id : ""; }
};

Status ResolveCaller(const Identity& identity, const StagedTokens& tokens, Caller* out) {
  *out = Caller{};
  if (identity.master) {
    out->master = out->admin = true;
    return Status::Ok();
  }
  out->record = tokens.Find(identity.token_id);
  if (!out->record || out->record->revoked) return Status::NoAuth("token revoked");
  if (out->record->Expired(tokens.now_ms)) return Status::NoAuth("token expired");
  out->admin = out->record->permissions.admin;
  return Status::Ok();
}

// May `caller` manage (list, refresh, revoke) this access token?
bool Manages(const Caller& caller, const TokenRecord& t) {
  return caller.admin || (caller.is_auth_key() && t.kind == TokenRecord::Kind::kToken && t.minted_by_id == caller.id());
}

// The record a REVOKE / REFRESH / UPDATE names: {"token": secret} | {"id"} | {"auth_key": secret or name}.
Status FindTarget(const TokenRequest& r, const StagedTokens& tokens, const Authenticator& auth, TokenRecord* out) {
  std::optional<TokenRecord> t;
  if (r.token) {
    t = tokens.FindBySecretHash(auth.SecretHash(*r.token));
    if (t && t->kind != TokenRecord::Kind::kToken) t.reset();
  } else if (r.id) {
    t = tokens.Find(*r.id);
  } else if (r.auth_key) {
    t = r.auth_key->starts_with(kAuthKeyPrefix) ? tokens.FindBySecretHash(auth.SecretHash(*r.auth_key))
                                                 : tokens.FindAuthKeyByName(*r.auth_key);
    if (t && t->kind != TokenRecord::Kind::kAuthKey) t.reset();
  }
  if (!t) return Status::Err("no such token");
  *out = std::move(*t);
  return Status::Ok();
}

// The caller as the staged table sees it, and the record a REVOKE / REFRESH names.
Status CallerAndTarget(const Identity& identity, const TokenRequest& r, const StagedTokens& tokens,
                       const Authenticator& auth, Caller* caller, TokenRecord* target) {
  Status s = ResolveCaller(identity, tokens, caller);
  return s.ok() ? FindTarget(r, tokens, auth, target) : s;
}

// Sends a control change to the store and replies with *reply once it is durable.
void Submit(CommandContext& ctx, storage::ControlChange change, std::shared_ptr<std::string> reply_json) {
  storage::AppendRequest request;
  request.control = std::move(change);
  SubmitControl(ctx, std::move(request), [reply_json] { return *reply_json; });
}

void ReplyError(CommandContext& ctx, const Status& s) { ctx.out.Error(s.ToWire()); }

// TOKEN:GENERATE {"auth_key":true,"name","permissions"?}
//              | {"expiration","limit","identifier_type","identifier_id","permissions"?}
void Generate(CommandContext& ctx) {
  TokenRequest r;
  Status s = ParseTokenRequest(Arg(ctx), {"auth_key", "name", "permissions", "expiration", "limit", "identifier_type",
                                          "identifier_id"}, &r);
  if (!s.ok()) return ReplyError(ctx, s);
  const bool auth_key = r.auth_key_flag.value_or(false);
  if (r.auth_key) return ReplyError(ctx, Status::Err("'auth_key' must be true or absent in TOKEN:GENERATE"));
  if (auth_key) {
    if (!r.name) return ReplyError(ctx, Status::Err("missing 'name'"));
    if (r.expiration || r.limit || r.identifier_type || r.identifier_id) {
      return ReplyError(ctx, Status::Err("an auth key takes 'name' and 'permissions' only"));
    }
    if (!ctx.session.identity.master) return ReplyError(ctx, Status::NoPerm("only the master key creates auth keys"));
  } else {
    if (r.name) return ReplyError(ctx, Status::Err("'name' is for auth keys (\"auth_key\":true)"));
    for (auto [present, key] : {std::pair{r.expiration.has_value(), "expiration"}, std::pair{r.limit.has_value(), "limit"},
                                std::pair{r.identifier_type.has_value(), "identifier_type"},
                                std::pair{r.identifier_id.has_value(), "identifier_id"}}) {
      if (!present) return ReplyError(ctx, Status::Err(std::string("missing '") + key + "'"));
    }
    if (*r.expiration == 0 || *r.expiration > kMaxExpirationSeconds) {
      return ReplyError(ctx, Status::Err("'expiration' must be between 1 and " + std::to_string(kMaxExpirationSeconds) + " seconds"));
    }
    const Identity& id = ctx.session.identity;
    if (!id.master && !id.admin && !id.auth_key) return ReplyError(ctx, Status::NoPerm("an access token cannot mint tokens"));
  }

  const std::string secret = Authenticator::NewSecret(auth_key ? kAuthKeyPrefix : kTokenPrefix);
  TokenRecord t;
  t.kind = auth_key ? TokenRecord::Kind::kAuthKey : TokenRecord::Kind::kToken;
  t.id = NewId(auth_key ? "key_" : "tok_");
  t.secret_hash = ctx.server.auth->SecretHash(secret);
  t.name = r.name.value_or("");
  t.identifier_type = r.identifier_type.value_or("");
  t.identifier_id = r.identifier_id.value_or("");
  t.limit = r.limit.value_or(0);
  auto reply = std::make_shared<std::string>();
  const Identity identity = ctx.session.identity;
  const std::optional<Permissions> requested = r.permissions;
  const uint64_t expiration = r.expiration.value_or(0);
  Submit(ctx, [t, secret, reply, identity, requested, expiration](storage::ControlContext& ctx, EventInput* audit) mutable -> Status {
    StagedTokens& tokens = ctx.tokens;
    Caller caller;
    if (Status s = ResolveCaller(identity, tokens, &caller); !s.ok()) return s;
    t.created_at_ms = tokens.now_ms;
    if (t.kind == TokenRecord::Kind::kAuthKey) {
      if (tokens.FindAuthKeyByName(t.name)) return Status::Conflict("an auth key named '" + t.name + "' exists");
      t.permissions = requested.value_or(Permissions{});
      t.minted_by = "master";
    } else {
      Permissions minter;
      if (caller.master) {
        minter = Permissions{{">"}, {">"}, true};
      } else {
        minter = caller.record->permissions;
      }
      if (requested && !minter.Covers(*requested)) {
        return Status::NoPerm("the requested permissions are wider than the minter's own");
      }
      t.permissions = requested.value_or(minter);
      if (!requested) t.permissions.admin = false;  // minted without permissions: the minter's, without admin
      t.expires_at_ms = tokens.now_ms + static_cast<int64_t>(expiration) * 1000;
      t.minted_by = caller.master ? "master" : caller.is_auth_key() ? caller.record->name : caller.record->Actor();
      t.minted_by_id = caller.id();
    }
    tokens.Put(t);
    const std::string pub = storage::TokenPublicJson(t);
    std::string json = t.kind == TokenRecord::Kind::kAuthKey ? "{\"auth_key\":" : "{\"token\":";
    storage::AppendJsonString(&json, secret);
    *reply = json + "," + pub.substr(1);
    if (t.kind == TokenRecord::Kind::kAuthKey) {
      Audit(audit, "auth-key-generated", {{"id", t.id}, {"name", t.name}, {"permissions", PermissionsText(t.permissions)}});
    } else {
      Audit(audit, "token-generated",
            {{"id", t.id}, {"identity", t.Actor()}, {"permissions", PermissionsText(t.permissions)},
             {"expires_at", storage::FormatRfc3339Ms(t.expires_at_ms)}, {"limit", std::to_string(t.limit)},
             {"minted_by", t.minted_by}});
    }
    return Status::Ok();
  }, reply);
}

// Exactly one of the target keys.
Status OneTarget(const TokenRequest& r, bool auth_key_allowed) {
  const int n = (r.token ? 1 : 0) + (r.id ? 1 : 0) + (r.auth_key ? 1 : 0);
  if (r.auth_key_flag) return Status::Err("'auth_key' must be an auth key's secret or name here");
  if (n == 1) return Status::Ok();
  return Status::Err(auth_key_allowed ? "give exactly one of 'token', 'id' or 'auth_key'" : "give exactly one of 'token' or 'id'");
}

// TOKEN:REVOKE {"token"|"id"|"auth_key"}
void Revoke(CommandContext& ctx) {
  TokenRequest r;
  Status s = ParseTokenRequest(Arg(ctx), {"token", "id", "auth_key"}, &r);
  if (s.ok()) s = OneTarget(r, true);
  if (!s.ok()) return ReplyError(ctx, s);
  auto reply = std::make_shared<std::string>();
  const Identity identity = ctx.session.identity;
  const Authenticator* auth = ctx.server.auth;
  Submit(ctx, [r, reply, identity, auth](storage::ControlContext& ctx, EventInput* audit) -> Status {
    StagedTokens& tokens = ctx.tokens;
    Caller caller;
    TokenRecord target;
    if (Status s = CallerAndTarget(identity, r, tokens, *auth, &caller, &target); !s.ok()) return s;
    if (!Manages(caller, target)) return Status::NoPerm("this identity cannot revoke that token");
    std::vector<std::string> revoked{target.id};
    target.revoked = true;
    tokens.Put(target);
    if (target.kind == TokenRecord::Kind::kAuthKey) {  // and every token it minted
      std::vector<TokenRecord> minted;
      tokens.ForEach([&](const TokenRecord& t) {
        if (t.minted_by_id == target.id && !t.revoked) minted.push_back(t);
      });
      std::sort(minted.begin(), minted.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
      for (auto& t : minted) {
        t.revoked = true;
        revoked.push_back(t.id);
        tokens.Put(std::move(t));
      }
    }
    std::string ids = "[";
    for (size_t i = 0; i < revoked.size(); ++i) {
      if (i) ids += ',';
      storage::AppendJsonString(&ids, revoked[i]);
    }
    ids += ']';
    *reply = "{\"revoked\":" + ids + "}";
    Audit(audit, target.kind == TokenRecord::Kind::kAuthKey ? "auth-key-revoked" : "token-revoked",
          {{"id", target.id}, {"revoked", ids}});
    return Status::Ok();
  }, reply);
}

// TOKEN:UPDATE {"auth_key","permissions"}
void Update(CommandContext& ctx) {
  TokenRequest r;
  Status s = ParseTokenRequest(Arg(ctx), {"auth_key", "permissions"}, &r);
  if (s.ok() && !r.auth_key) s = Status::Err("missing 'auth_key'");
  if (s.ok() && !r.permissions) s = Status::Err("missing 'permissions'");
  if (s.ok() && !ctx.session.identity.admin) s = Status::NoPerm("changing an auth key needs admin rights");
  if (!s.ok()) return ReplyError(ctx, s);
  auto reply = std::make_shared<std::string>();
  const Identity identity = ctx.session.identity;
  const Authenticator* auth = ctx.server.auth;
  Submit(ctx, [r, reply, identity, auth](storage::ControlContext& ctx, EventInput* audit) -> Status {
    StagedTokens& tokens = ctx.tokens;
    Caller caller;
    if (Status s = ResolveCaller(identity, tokens, &caller); !s.ok()) return s;
    if (!caller.admin) return Status::NoPerm("changing an auth key needs admin rights");
    // Nobody grants what they do not have: an admin auth key cannot widen a key (itself included)
    // beyond its own permissions; only the master key can.
    if (!caller.master && !caller.record->permissions.Covers(*r.permissions)) {
      return Status::NoPerm("the new permissions are wider than the caller's own");
    }
    TokenRecord target;
    if (Status s = FindTarget(r, tokens, *auth, &target); !s.ok()) return s;
    if (target.revoked) return Status::Err("the auth key is revoked");
    const std::string before = PermissionsText(target.permissions);
    target.permissions = *r.permissions;
    tokens.Put(target);
    *reply = storage::TokenPublicJson(target);
    Audit(audit, "auth-key-updated", {{"id", target.id}, {"before", before}, {"permissions", PermissionsText(target.permissions)}});
    return Status::Ok();
  }, reply);
}

// TOKEN:REFRESH {"token"|"id","expiration"?,"limit"?}: adds time and/or writes.
void Refresh(CommandContext& ctx) {
  TokenRequest r;
  Status s = ParseTokenRequest(Arg(ctx), {"token", "id", "expiration", "limit"}, &r);
  if (s.ok()) s = OneTarget(r, false);
  if (s.ok() && !r.expiration && !r.limit) s = Status::Err("give 'expiration' (seconds to add) and/or 'limit' (writes to add)");
  if (s.ok() && r.expiration && *r.expiration > kMaxExpirationSeconds) s = Status::Err("'expiration' is too large");
  if (!s.ok()) return ReplyError(ctx, s);
  auto reply = std::make_shared<std::string>();
  const Identity identity = ctx.session.identity;
  const Authenticator* auth = ctx.server.auth;
  Submit(ctx, [r, reply, identity, auth](storage::ControlContext& ctx, EventInput* audit) -> Status {
    StagedTokens& tokens = ctx.tokens;
    Caller caller;
    TokenRecord target;
    if (Status s = CallerAndTarget(identity, r, tokens, *auth, &caller, &target); !s.ok()) return s;
    if (target.kind != TokenRecord::Kind::kToken) return Status::Err("only access tokens can be refreshed");
    if (!Manages(caller, target)) return Status::NoPerm("this identity cannot refresh that token");
    if (target.revoked) return Status::Err("the token is revoked");
    // Expiry is final, like revocation: a stolen token that ran out is not brought back.
    if (target.Expired(tokens.now_ms)) return Status::Err("the token has expired: mint a new one");
    target.expires_at_ms += static_cast<int64_t>(r.expiration.value_or(0)) * 1000;
    target.limit += r.limit.value_or(0);
    tokens.Put(target);
    *reply = storage::TokenPublicJson(target);
    Audit(audit, "token-refreshed",
          {{"id", target.id}, {"expires_at", storage::FormatRfc3339Ms(target.expires_at_ms)}, {"limit", std::to_string(target.limit)}});
    return Status::Ok();
  }, reply);
}

// TOKEN:LIST {"active"?,"cursor"?,"take"?} | {"auth_keys":true}
void List(CommandContext& ctx) {
  TokenRequest r;
  Status s = ParseTokenRequest(Arg(ctx), {"active", "cursor", "take", "auth_keys"}, &r);
  if (!s.ok()) return ReplyError(ctx, s);
  const Identity& id = ctx.session.identity;
  const bool keys = r.auth_keys.value_or(false);
  if (keys && !id.admin) return ReplyError(ctx, Status::NoPerm("listing auth keys needs admin rights"));
  if (!keys && !id.admin && !id.auth_key) return ReplyError(ctx, Status::NoPerm("an access token cannot list tokens"));
  const uint64_t take = r.take.value_or(0) == 0 ? kDefaultTake : *r.take;
  if (take > kMaxTake) return ReplyError(ctx, Status::Err("'take' must be at most " + std::to_string(kMaxTake)));
  const int64_t now = storage::NowMs();
  std::vector<TokenRecord> all = ctx.server.store->ListTokens();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<std::string> out;
  for (const auto& t : all) {
    if (out.size() >= take) break;
    if (keys != (t.kind == TokenRecord::Kind::kAuthKey)) continue;
    if (r.cursor && t.id <= *r.cursor) continue;
    if (!id.admin && t.minted_by_id != id.token_id) continue;
    if (r.active && *r.active == (t.revoked || t.Expired(now))) continue;
    out.push_back(storage::TokenPublicJson(t));
  }
  ctx.out.Array(out.size());
  for (const auto& j : out) ctx.out.Bulk(j);
}

// TOKEN:INFO: the calling connection's identity and remaining budget.
void Info(CommandContext& ctx) {
  TokenRequest r;
  if (Status s = ParseTokenRequest(Arg(ctx), {}, &r); !s.ok()) return ReplyError(ctx, s);
  const Identity& id = ctx.session.identity;
  if (id.master) {
    ctx.out.Bulk("{\"kind\":\"master\",\"actor\":\"master\",\"permissions\":{\"read\":[\">\"],\"write\":[\">\"],\"admin\":true}}");
    return;
  }
  std::optional<TokenRecord> t = ctx.server.store->FindToken(id.token_id);
  if (!t) return ReplyError(ctx, Status::NoAuth("token revoked"));
  std::string json = storage::TokenPublicJson(*t);
  if (t->kind == TokenRecord::Kind::kToken) {
    json.pop_back();
    json += ",\"writes_remaining\":" + std::to_string(t->limit > t->writes_used ? t->limit - t->writes_used : 0) + "}";
  }
  ctx.out.Bulk(json);
}

}  // namespace

void RegisterTokenCommands(CommandTable& t) {
  t.Register({"TOKEN:GENERATE", 2, 2, kAsync, Generate, "tokens", "Creates an auth key (master) or an access token."});
  t.Register({"TOKEN:REVOKE", 2, 2, kAsync, Revoke, "tokens", "Revokes a token or an auth key (and its tokens), at once."});
  t.Register({"TOKEN:LIST", 1, 2, 0, List, "tokens", "Lists tokens or auth keys, never their secrets."});
  t.Register({"TOKEN:UPDATE", 2, 2, kAsync, Update, "tokens", "Changes an auth key's permissions (admin)."});
  t.Register({"TOKEN:REFRESH", 2, 2, kAsync, Refresh, "tokens", "Adds time and/or writes to an access token."});
  t.Register({"TOKEN:INFO", 1, 2, kFast, Info, "tokens", "The calling connection's identity and remaining budget."});
}

}  // namespace eventful::server
