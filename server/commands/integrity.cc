// Integrity commands: CHECKSUM (the global Merkle root) and VERIFY (recomputes from content).
#include "server/command_table.h"
#include "server/json_request.h"
#include "storage/json_text.h"

namespace eventful::server {
namespace {

void Checksum(CommandContext& ctx) {
  const storage::Checksum c = ctx.server.store->GetChecksum();
  ctx.out.Array(3);
  ctx.out.Bulk(c.last_event_id);
  ctx.out.Bulk(c.root);
  ctx.out.Integer(static_cast<int64_t>(c.events));
}

std::string StreamReportJson(const storage::StreamVerifyReport& r) {
  std::string out = r.ok ? "{\"ok\":true,\"stream\":" : "{\"ok\":false,\"stream\":";
  storage::AppendJsonString(&out, r.stream);
  if (r.ok) {
    out += ",\"version\":" + std::to_string(r.version) + ",\"root\":\"" + r.root + "\"}";
  } else {
    out += ",\"first_bad_version\":" + std::to_string(r.first_bad_version) + ",\"reason\":";
    storage::AppendJsonString(&out, r.reason);
    out += '}';
  }
  return out;
}

std::string StoreReportJson(const storage::StoreVerifyReport& r) {
  std::string out = r.ok ? "{\"ok\":true" : "{\"ok\":false";
  out += ",\"events\":" + std::to_string(r.events) + ",\"streams\":" + std::to_string(r.streams) + ",\"root\":\"" +
         r.root + "\",\"bad\":[";
  for (size_t i = 0; i < r.bad.size(); ++i) {
    if (i) out += ',';
    out += r.bad[i];
  }
  out += "]}";
  return out;
}

void Verify(CommandContext& ctx) {
  std::optional<std::string> stream;
  Status s = ParseVerifyRequest(ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(), &stream);
  std::string json;
  if (s.ok() && stream) {
    storage::StreamVerifyReport report;
    s = ctx.server.store->VerifyStream(*stream, &report);
    json = StreamReportJson(report);
  } else if (s.ok()) {
    storage::StoreVerifyReport report;
    s = ctx.server.store->VerifyAll(&report);
    json = StoreReportJson(report);
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  ctx.out.Bulk(json);
}

}  // namespace

void RegisterIntegrityCommands(CommandTable& t) {
  t.Register({"CHECKSUM", 1, 1, kRead | kFast, Checksum, "integrity", "Last event id, global Merkle root, event count."});
  t.Register({"VERIFY", 1, 2, kRead, Verify, "integrity", "Recomputes hashes and roots from stored content."});
}

}  // namespace eventful::server
