// Integrity commands: CHECKSUM (the global Merkle root), VERIFY (recomputes from content), and
// the RFC 9162 proofs and signed tree heads of INTEGRITY.md: PROOF, CONSISTENCY, TREEHEAD.
#include <cstdio>

#include "server/command_table.h"
#include "server/json_request.h"
#include "server/treehead_key.h"
#include "storage/clock.h"
#include "storage/hash.h"
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
  Status s = ParseStreamOrLogRequest(ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(), &stream);
  std::string json;
  if (s.ok() && stream) s = CheckRead(ctx.session.identity, *stream);
  if (s.ok() && stream) {
    storage::StreamVerifyReport report;
    s = ctx.server.store->VerifyStream(*stream, &report);
    json = StreamReportJson(report);
  } else if (s.ok() && !ctx.session.identity.admin && !ctx.session.identity.permissions.ReadsAll()) {
    // Its report names streams: only for identities that may read them all, or admins.
    s = Status::NoPerm("VERIFY of the whole store needs admin rights or read rights on '>'");
  } else if (s.ok()) {
    // The whole store: on the background thread, with progress in the server log.
    DeferredReply reply = ctx.defer();
    ServerContext* server = &ctx.server;
    server->run_background([server, reply] {
      storage::VerifyControl control;
      control.cancel = &server->stopping;
      control.progress = [](std::string_view phase, uint64_t done, uint64_t total) {
        std::fprintf(stderr, "eventful: VERIFY %.*s pass: %llu of ~%llu events\n", static_cast<int>(phase.size()),
                     phase.data(), static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
      };
      const int64_t started = storage::NowMs();
      storage::StoreVerifyReport report;
      Status vs = server->store->VerifyAll(&report, control);
      std::fprintf(stderr, "eventful: VERIFY %s: %llu events, %llu streams in %lld ms\n",
                   !vs.ok() ? "failed" : report.ok ? "ok" : "found problems", static_cast<unsigned long long>(report.events),
                   static_cast<unsigned long long>(report.streams), static_cast<long long>(storage::NowMs() - started));
      reply([vs = std::move(vs), json = StoreReportJson(report)](protocol::ReplyWriter& out) {
        if (!vs.ok()) {
          out.Error(vs.ToWire());
        } else {
          out.Bulk(json);
        }
      });
    });
    return;
  }
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  ctx.out.Bulk(json);
}

void AppendStreamKey(std::string* out, const std::optional<std::string>& stream) {
  if (!stream) return;
  *out += "\"stream\":";
  storage::AppendJsonString(out, *stream);
  *out += ',';
}

void AppendPath(std::string* out, const std::vector<storage::Hash>& path) {
  *out += "\"path\":[";
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) *out += ',';
    *out += '"' + storage::ToHex(path[i]) + '"';
  }
  *out += ']';
}

// PROOF {"stream","version","tree_size"?} | {"position","tree_size"?}
void Proof(CommandContext& ctx) {
  ProofRequest request;
  storage::InclusionProof proof;
  Status s = ParseProofRequest(ctx.argv[1], &request);
  if (s.ok() && request.stream) s = CheckRead(ctx.session.identity, *request.stream);
  if (s.ok()) s = ctx.server.store->ProveInclusion(request.stream, request.leaf, request.tree_size, &proof);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  std::string out = "{";
  AppendStreamKey(&out, request.stream);
  out += "\"leaf_index\":" + std::to_string(proof.leaf_index) + ",\"tree_size\":" + std::to_string(proof.tree_size) +
         ",\"leaf_hash\":\"" + storage::ToHex(proof.leaf_hash) + "\",\"root\":\"" + storage::ToHex(proof.root) + "\",";
  AppendPath(&out, proof.path);
  out += '}';
  ctx.out.Bulk(out);
}

// CONSISTENCY {"stream"?,"from","to"?}
void Consistency(CommandContext& ctx) {
  ConsistencyRequest request;
  storage::ConsistencyProof proof;
  Status s = ParseConsistencyRequest(ctx.argv[1], &request);
  if (s.ok() && request.stream) s = CheckRead(ctx.session.identity, *request.stream);
  if (s.ok()) s = ctx.server.store->ProveConsistency(request.stream, request.from, request.to, &proof);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  std::string out = "{";
  AppendStreamKey(&out, request.stream);
  out += "\"from\":" + std::to_string(proof.from) + ",\"to\":" + std::to_string(proof.to) + ",\"from_root\":\"" +
         storage::ToHex(proof.from_root) + "\",\"to_root\":\"" + storage::ToHex(proof.to_root) + "\",";
  AppendPath(&out, proof.path);
  out += '}';
  ctx.out.Bulk(out);
}

// TREEHEAD {"stream"?}: signs JCS({"root","stream"?,"timestamp","tree_size"}) (keys in JCS order).
void TreeHead(CommandContext& ctx) {
  std::optional<std::string> stream;
  storage::TreeHead head;
  Status s = ParseStreamOrLogRequest(ctx.argv.size() > 1 ? ctx.argv[1] : std::string_view(), &stream);
  if (s.ok() && stream) s = CheckRead(ctx.session.identity, *stream);
  if (s.ok()) s = ctx.server.store->GetTreeHead(stream, &head);
  const ServerConfig& config = *ctx.server.config;
  TreeheadKey key;
  key.public_hex = config.treehead_public_key;
  if (s.ok() && config.treehead_seed.size() != key.private_raw.size()) s = Status::Err("the tree-head key is not loaded");
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  std::copy(config.treehead_seed.begin(), config.treehead_seed.end(), key.private_raw.begin());
  const std::string root = storage::ToHex(head.root);
  const std::string timestamp = storage::FormatRfc3339Ms(storage::NowMs());
  std::string message = "{\"root\":\"" + root + "\",";
  AppendStreamKey(&message, stream);
  message += "\"timestamp\":\"" + timestamp + "\",\"tree_size\":" + std::to_string(head.tree_size) + "}";
  std::string signature;
  s = SignHex(key, message, &signature);
  key.private_raw.fill(0);
  if (!s.ok()) {
    ctx.out.Error(s.ToWire());
    return;
  }
  storage::Hash public_raw;  // an Ed25519 public key is 32 bytes, like a hash
  if (!storage::FromHex(key.public_hex, &public_raw)) {
    ctx.out.Error(Status::Err("the tree-head public key is malformed").ToWire());
    return;
  }
  const std::string key_id =
      storage::ToHex(storage::Sha256(std::string_view(reinterpret_cast<const char*>(public_raw.data()), public_raw.size())))
          .substr(0, 16);
  std::string out = "{";
  AppendStreamKey(&out, stream);
  out += "\"tree_size\":" + std::to_string(head.tree_size) + ",\"root\":\"" + root + "\",\"timestamp\":\"" + timestamp +
         "\",\"key_id\":\"" + key_id + "\",\"public_key\":\"" + key.public_hex + "\",\"signature\":\"" + signature + "\"}";
  ctx.out.Bulk(out);
}

}  // namespace

void RegisterIntegrityCommands(CommandTable& t) {
  t.Register({"CHECKSUM", 1, 1, kRead | kFast, Checksum, "integrity", "Last event id, global Merkle root, event count."});
  t.Register({"VERIFY", 1, 2, kRead | kAsync, Verify, "integrity", "Recomputes hashes and roots from stored content."});
  t.Register({"PROOF", 2, 2, kRead, Proof, "integrity", "RFC 9162 inclusion proof of an event in its stream or the log."});
  t.Register({"CONSISTENCY", 2, 2, kRead, Consistency, "integrity", "RFC 9162 consistency proof between two tree sizes."});
  t.Register({"TREEHEAD", 1, 2, kRead, TreeHead, "integrity", "Signed tree head of a stream or the global log."});
}

}  // namespace eventful::server
