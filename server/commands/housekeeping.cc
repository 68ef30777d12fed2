// Redis housekeeping commands, with their Redis syntax: PING AUTH HELLO QUIT INFO COMMAND CLIENT
// SELECT, and the server facts VERSION UPTIME SIZE EVENTCOUNT[EST] STREAMCOUNT[EST].
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

#include "eventful/version.h"
#include "server/command_table.h"
#include "storage/clock.h"
#include "storage/hash.h"

namespace eventful::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool IEquals(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "K", "M", "G", "T"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f%s", v, units[u]);
  }
  return buf;
}

std::string HumanDuration(int64_t ms) {
  int64_t s = ms / 1000;
  const int64_t d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60;
  s %= 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  if (d || h || m) out += std::to_string(m) + "m ";
  out += std::to_string(s) + "s";
  return out;
}

void Ping(CommandContext& ctx) {
  if (ctx.argv.size() == 1) {
    ctx.out.Simple("PONG");
  } else {
    ctx.out.Bulk(ctx.argv[1]);
  }
}

void Auth(CommandContext& ctx) {
  const std::string_view secret = ctx.argv.back();  // AUTH [user] secret: the user name is ignored
  Identity id;
  Status s = ctx.server.auth->Authenticate(secret, &id);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  ctx.session.identity = std::move(id);
  ctx.out.Simple("OK");
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
void Hello(CommandContext& ctx) {
  int proto = ctx.session.resp;
  size_t i = 1;
  if (ctx.argv.size() > 1) {
    const std::string_view v = ctx.argv[1];
    if (v != "2" && v != "3") {
      ctx.out.Error("ERR unsupported protocol version " + std::string(v) + ": use 2 or 3");
      return;
    }
    proto = v[0] - '0';
    i = 2;
  }
  Identity identity = ctx.session.identity;
  std::string name = ctx.session.name;
  for (; i < ctx.argv.size(); ++i) {
    if (IEquals(ctx.argv[i], "AUTH") && i + 2 < ctx.argv.size()) {
      Status s = ctx.server.auth->Authenticate(ctx.argv[i + 2], &identity);
      if (!s.ok()) {
        ctx.out.Error(s.ToWire());
        return;
      }
      i += 2;
    } else if (IEquals(ctx.argv[i], "SETNAME") && i + 1 < ctx.argv.size()) {
      name = std::string(ctx.argv[++i]);
    } else {
      ctx.out.Error("ERR syntax error in HELLO option '" + std::string(ctx.argv[i]) + "'");
      return;
    }
  }
  ctx.session.identity = std::move(identity);
  ctx.session.name = std::move(name);
  ctx.session.resp = proto;
  ctx.out.set_resp(proto);
  ctx.out.Map(7);
  ctx.out.Bulk("server");
  ctx.out.Bulk("eventful");
  ctx.out.Bulk("version");
  ctx.out.Bulk(kVersion);
  ctx.out.Bulk("proto");
  ctx.out.Integer(proto);
  ctx.out.Bulk("id");
  ctx.out.Integer(static_cast<int64_t>(ctx.session.client_id));
  ctx.out.Bulk("mode");
  ctx.out.Bulk("standalone");
  ctx.out.Bulk("role");
  ctx.out.Bulk("master");
  ctx.out.Bulk("modules");
  ctx.out.Array(0);
}

void Quit(CommandContext& ctx) {
  ctx.session.close_after_reply = true;
  ctx.out.Simple("OK");
}

void Info(CommandContext& ctx) {
  const std::string section = ctx.argv.size() > 1 ? Lower(ctx.argv[1]) : "default";
  const bool all = section == "default" || section == "all" || section == "everything";
  auto& sv = ctx.server;
  std::string text;
  auto want = [&](std::string_view name) { return all || section == name; };
  if (want("server")) {
    text += "# Server\r\n";
    text += "eventful_version:" + std::string(kVersion) + "\r\n";
    text += "redis_version:7.0.0\r\n";  // for clients that gate features on it
    text += "redis_mode:standalone\r\n";
    text += "process_id:" + std::to_string(::getpid()) + "\r\n";
    text += "tcp_port:" + std::to_string(sv.port) + "\r\n";
    text += "uptime_in_seconds:" + std::to_string((storage::NowMs() - sv.started_ms) / 1000) + "\r\n";
    text += "io_threads:" + std::to_string(sv.config->io_threads) + "\r\n";
    text += "\r\n";
  }
  if (want("clients")) {
    text += "# Clients\r\n";
    text += "connected_clients:" + std::to_string(sv.connected_clients.load()) + "\r\n";
    text += "\r\n";
  }
  if (want("stats")) {
    text += "# Stats\r\n";
    text += "total_connections_received:" + std::to_string(sv.total_connections.load()) + "\r\n";
    text += "total_commands_processed:" + std::to_string(sv.total_commands.load()) + "\r\n";
    text += "rejected_connections:" + std::to_string(sv.rejected_connections.load()) + "\r\n";
    const storage::CommitStats cs = sv.store->GetCommitStats();
    text += "commit_groups:" + std::to_string(cs.groups) + "\r\n";
    text += "commit_requests:" + std::to_string(cs.requests) + "\r\n";
    text += "commit_events:" + std::to_string(cs.events) + "\r\n";
    text += "commit_stage_micros:" + std::to_string(cs.stage_micros) + "\r\n";
    text += "commit_write_micros:" + std::to_string(cs.write_micros) + "\r\n";
    text += "\r\n";
  }
  if (want("persistence")) {
    text += "# Persistence\r\n";
    text += "loading:0\r\n";
    text += std::string("durability:") + (sv.config->relaxed_durability ? "relaxed" : "sync") + "\r\n";
    text += "\r\n";
  }
  if (want("eventful")) {
    const storage::Checksum c = sv.store->GetChecksum();
    text += "# Eventful\r\n";
    text += "events:" + std::to_string(c.events) + "\r\n";
    text += "streams:" + std::to_string(sv.store->StreamCount()) + "\r\n";
    text += "root:" + c.root + "\r\n";
    text += "treehead_public_key:" + sv.config->treehead_public_key + "\r\n";
    text += "\r\n";
  }
  if (!text.empty()) text.resize(text.size() - 2);  // no blank line after the last section
  ctx.out.Verbatim(text);
}

// Redis 7 COMMAND INFO entry: name, arity, flags, first/last key, step, ACL categories, tips,
// key specs, subcommands.
void WriteCommandInfo(protocol::ReplyWriter& out, const CommandSpec& c) {
  out.Array(10);
  out.Bulk(Lower(c.name));
  out.Integer(c.min_args == c.max_args ? c.min_args : -c.min_args);
  std::vector<std::string_view> flags;
  if (c.flags & kWrite) flags.push_back("write");
  if (c.flags & kRead) flags.push_back("readonly");
  if (c.flags & kAdmin) flags.push_back("admin");
  if (c.flags & kNoAuth) flags.push_back("no_auth");
  if (c.flags & kFast) flags.push_back("fast");
  out.Set(flags.size());
  for (auto f : flags) out.Simple(f);
  out.Integer(0);
  out.Integer(0);
  out.Integer(0);
  std::vector<std::string_view> cats;
  if (c.flags & kWrite) cats.push_back("@write");
  if (c.flags & kRead) cats.push_back("@read");
  if (c.flags & kAdmin) cats.push_back("@admin");
  if (c.flags & kFast) cats.push_back("@fast");
  out.Set(cats.size());
  for (auto f : cats) out.Simple(f);
  out.Set(0);
  out.Array(0);
  out.Array(0);
}

void WriteCommandDoc(protocol::ReplyWriter& out, const CommandSpec& c) {
  out.Bulk(Lower(c.name));
  out.Map(3);
  out.Bulk("summary");
  out.Bulk(c.summary);
  out.Bulk("since");
  out.Bulk("0.1.0");
  out.Bulk("group");
  out.Bulk(c.group);
}

void Command(CommandContext& ctx) {
  const CommandTable& table = GlobalCommandTable();
  if (ctx.argv.size() == 1) {
    ctx.out.Array(table.all().size());
    for (const auto& c : table.all()) WriteCommandInfo(ctx.out, c);
    return;
  }
  const std::string sub = Lower(ctx.argv[1]);
  if (sub == "count" && ctx.argv.size() == 2) {
    ctx.out.Integer(static_cast<int64_t>(table.all().size()));
  } else if (sub == "list" && ctx.argv.size() == 2) {
    ctx.out.Array(table.all().size());
    for (const auto& c : table.all()) ctx.out.Bulk(Lower(c.name));
  } else if (sub == "info") {
    if (ctx.argv.size() == 2) {
      ctx.out.Array(table.all().size());
      for (const auto& c : table.all()) WriteCommandInfo(ctx.out, c);
      return;
    }
    ctx.out.Array(ctx.argv.size() - 2);
    for (size_t i = 2; i < ctx.argv.size(); ++i) {
      if (const CommandSpec* c = table.Find(ctx.argv[i])) {
        WriteCommandInfo(ctx.out, *c);
      } else {
        ctx.out.NullArray();
      }
    }
  } else if (sub == "docs") {
    std::vector<const CommandSpec*> docs;
    if (ctx.argv.size() == 2) {
      for (const auto& c : table.all()) docs.push_back(&c);
    } else {
      for (size_t i = 2; i < ctx.argv.size(); ++i) {
        if (const CommandSpec* c = table.Find(ctx.argv[i])) docs.push_back(c);
      }
    }
    ctx.out.Map(docs.size());
    for (const auto* c : docs) WriteCommandDoc(ctx.out, *c);
  } else {
    ctx.out.Error("ERR unknown subcommand '" + std::string(ctx.argv[1]) + "'. Try COMMAND COUNT, DOCS, INFO or LIST.");
  }
}

void Client(CommandContext& ctx) {
  const std::string sub = Lower(ctx.argv[1]);
  if (sub == "setname" && ctx.argv.size() == 3) {
    const std::string_view name = ctx.argv[2];
    for (unsigned char c : name) {
      if (c <= ' ' || c > '~') {
        ctx.out.Error("ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
    }
    ctx.session.name = std::string(name);
    ctx.out.Simple("OK");
  } else if (sub == "getname" && ctx.argv.size() == 2) {
    if (ctx.session.name.empty()) {
      ctx.out.Null();
    } else {
      ctx.out.Bulk(ctx.session.name);
    }
  } else if (sub == "id" && ctx.argv.size() == 2) {
    ctx.out.Integer(static_cast<int64_t>(ctx.session.client_id));
  } else {
    ctx.out.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(ctx.argv[1]) +
                  "'. Try CLIENT SETNAME, GETNAME or ID.");
  }
}

void Select(CommandContext& ctx) {
  if (ctx.argv[1] == "0") {
    ctx.out.Simple("OK");
  } else {
    ctx.out.Error("ERR DB index is out of range");
  }
}

void Version(CommandContext& ctx) { ctx.out.Bulk(kVersion); }

void Uptime(CommandContext& ctx) {
  const int64_t ms = storage::NowMs() - ctx.server.started_ms;
  ctx.out.Array(2);
  ctx.out.Integer(ms);
  ctx.out.Bulk(HumanDuration(ms));
}

void Size(CommandContext& ctx) {
  const uint64_t bytes = ctx.server.store->SizeOnDisk();
  ctx.out.Array(2);
  ctx.out.Integer(static_cast<int64_t>(bytes));
  ctx.out.Bulk(HumanBytes(bytes));
}

void EventCount(CommandContext& ctx) { ctx.out.Integer(static_cast<int64_t>(ctx.server.store->EventCount())); }
void StreamCount(CommandContext& ctx) { ctx.out.Integer(static_cast<int64_t>(ctx.server.store->StreamCount())); }
void EventCountEst(CommandContext& ctx) {
  ctx.out.Integer(static_cast<int64_t>(ctx.server.store->EstimateEventCount()));
}
void StreamCountEst(CommandContext& ctx) {
  ctx.out.Integer(static_cast<int64_t>(ctx.server.store->EstimateStreamCount()));
}

}  // namespace

void RegisterHousekeepingCommands(CommandTable& t) {
  t.Register({"PING", 1, 2, kNoAuth | kFast, Ping, "connection", "Returns PONG, or the message given."});
  t.Register({"AUTH", 2, 3, kNoAuth | kSession | kFast, Auth, "connection", "Authenticates with the master key, an auth key or an access token."});
  t.Register({"HELLO", 1, 7, kNoAuth | kSession | kFast, Hello, "connection", "Selects RESP2/RESP3, optionally authenticates."});
  t.Register({"QUIT", 1, 1, kNoAuth | kSession | kFast, Quit, "connection", "Closes the connection."});
  t.Register({"INFO", 1, 2, 0, Info, "server", "Server information and statistics."});
  t.Register({"COMMAND", 1, -1, 0, Command, "server", "The command table."});
  t.Register({"CLIENT", 2, 3, kFast, Client, "connection", "CLIENT SETNAME, GETNAME, ID."});
  t.Register({"SELECT", 2, 2, kFast, Select, "connection", "Only database 0 exists."});
  t.Register({"VERSION", 1, 1, kFast, Version, "server", "The server's semantic version."});
  t.Register({"UPTIME", 1, 1, kFast, Uptime, "server", "Milliseconds since start, and a human form."});
  t.Register({"SIZE", 1, 1, 0, Size, "server", "Bytes on disk, and a human form."});
  t.Register({"EVENTCOUNT", 1, 1, kRead | kFast, EventCount, "events", "Exact number of events."});
  t.Register({"STREAMCOUNT", 1, 1, kRead | kFast, StreamCount, "events", "Exact number of streams."});
  t.Register({"EVENTCOUNTEST", 1, 1, kRead | kFast, EventCountEst, "events", "Estimated number of events."});
  t.Register({"STREAMCOUNTEST", 1, 1, kRead | kFast, StreamCountEst, "events", "Estimated number of streams."});
}

}  // namespace eventful::server
