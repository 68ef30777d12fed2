#include "server/command_table.h"

#include <algorithm>
#include <cctype>

namespace eventful::server {
namespace {

std::string Upper(std::string_view s) {
  std::string u(s);
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  return u;
}

const CommandTable* g_table = nullptr;

}  // namespace

void SubmitControl(CommandContext& ctx, storage::AppendRequest request, std::function<std::string()> make_reply) {
  request.actor = ctx.session.identity.actor;
  request.client = ctx.session.client_id;
  DeferredReply reply = ctx.defer();
  ctx.server.store->Append(std::move(request), [reply, make_reply = std::move(make_reply)](
                                                   Status s, std::vector<storage::EventRef>) {
    std::string json = s.ok() ? make_reply() : std::string();
    reply([s = std::move(s), json = std::move(json)](protocol::ReplyWriter& out) {
      if (!s.ok()) {
        out.Error(s.ToWire());
      } else {
        out.Bulk(json);
      }
    });
  });
}

void CommandTable::Register(CommandSpec spec) {
  index_[std::string(spec.name)] = specs_.size();
  specs_.push_back(spec);
}

const CommandSpec* CommandTable::Find(std::string_view name) const {
  auto it = index_.find(Upper(name));
  return it == index_.end() ? nullptr : &specs_[it->second];
}

void CommandTable::Dispatch(CommandContext& ctx) const {
  const std::string_view name = ctx.argv[0];
  const CommandSpec* spec = Find(name);
  if (!spec) {
    ctx.out.Error("ERR unknown command '" + std::string(name) + "'");
    return;
  }
  const int argc = static_cast<int>(ctx.argv.size());
  if (argc < spec->min_args || (spec->max_args >= 0 && argc > spec->max_args)) {
    std::string lower(spec->name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    ctx.out.Error("ERR wrong number of arguments for '" + lower + "' command");
    return;
  }
  if (!(spec->flags & kNoAuth) && !ctx.session.identity.authenticated) {
    ctx.out.Error("NOAUTH Authentication required.");
    return;
  }
  // An auth key or token: revoked or expired since AUTH → NOAUTH on every command but those that
  // change or end the session; permission changes take effect here too.
  if (!ctx.session.identity.token_id.empty() && !(spec->flags & kSession)) {
    if (Status s = ctx.server.auth->Refresh(&ctx.session.identity); !s.ok()) {
      ctx.out.Error(s.ToWire());
      return;
    }
  }
  if ((spec->flags & kAdmin) && !ctx.session.identity.admin) {
    ctx.out.Error("NOPERM this command needs admin rights");
    return;
  }
  ctx.server.total_commands.fetch_add(1, std::memory_order_relaxed);
  spec->handler(ctx);
}

Status CheckRead(const Identity& identity, std::string_view stream) {
  if (identity.CanRead(stream)) return Status::Ok();
  return Status::NoPerm("no read permission for stream '" + std::string(stream) + "'");
}

Status CheckWrite(const Identity& identity, std::string_view stream) {
  if (identity.CanWrite(stream)) return Status::Ok();
  return Status::NoPerm("no write permission for stream '" + std::string(stream) + "'");
}

std::function<bool(std::string_view)> ReadableFilter(const Identity& identity) {
  if (identity.master) return nullptr;
  return [permissions = identity.permissions](std::string_view stream) { return permissions.CanRead(stream); };
}

const CommandTable& GlobalCommandTable() { return *g_table; }
void SetGlobalCommandTable(const CommandTable* table) { g_table = table; }

}  // namespace eventful::server
