// `eventful proof | consistency | treehead | verify`: the integrity commands, checked by the
// client. The server's word is never taken: an event's hash is recomputed from its content,
// proofs are checked with proof_check.h, and tree heads by their Ed25519 signature.
//
// Output: a verdict line ("verified: ..." / "verification FAILED: ..."), or with --json one JSON
// object {"verified":bool,"reason"?:…, <the raw replies it was decided on>}. Exit 0 verified,
// 2 failed, 1 error.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clients/cli/commands.h"
#include "clients/cli/connection.h"
#include "clients/cli/proof_check.h"
#include "clients/cli/replies.h"
#include "server/launch.h"
#include "storage/event.h"
#include "storage/hash.h"
#include "storage/json_text.h"
#include "storage/store.h"

namespace eventful::cli {
namespace {

using storage::JsonString;

constexpr int kFailed = 2;

// Collects the replies a verdict rests on and prints the verdict once.
class Verdict {
 public:
  explicit Verdict(bool json) : json_(json) {}

  // Keeps `raw_json` (one JSON value) to show under `key` with --json.
  void Attach(std::string_view key, std::string_view raw_json) {
    attached_ += "," + JsonString(key) + ":" + std::string(raw_json);
  }

  int Verified(const std::string& line) {
    if (json_) {
      PrintLine("{\"verified\":true" + attached_ + "}");
    } else {
      PrintLine(line);
    }
    return 0;
  }

  int Failed(const std::string& reason) {
    if (json_) {
      PrintLine("{\"verified\":false,\"reason\":" + JsonString(reason) + attached_ + "}");
    } else {
      PrintLine("verification FAILED: " + reason);
    }
    return kFailed;
  }

 private:
  bool json_;
  std::string attached_;
};

bool GetU64(dom::object o, std::string_view key, uint64_t* out) {
  return o.at_key(key).get_uint64().get(*out) == simdjson::SUCCESS;
}

bool GetString(dom::object o, std::string_view key, std::string* out) {
  std::string_view v;
  if (o.at_key(key).get_string().get(v) != simdjson::SUCCESS) return false;
  out->assign(v);
  return true;
}

bool GetHash(dom::object o, std::string_view key, Hash* out) {
  std::string hex;
  return GetString(o, key, &hex) && storage::FromHex(hex, out);
}

bool GetHashes(dom::object o, std::string_view key, std::vector<Hash>* out) {
  dom::array a;
  if (o.at_key(key).get_array().get(a) != simdjson::SUCCESS) return false;
  for (dom::element e : a) {
    std::string_view hex;
    Hash h;
    if (e.get_string().get(hex) != simdjson::SUCCESS || !storage::FromHex(hex, &h)) return false;
    out->push_back(h);
  }
  return true;
}

// Optional "stream" key: absent → nullopt; present but not a string → false.
bool GetOptionalStream(dom::object o, std::optional<std::string>* out) {
  dom::element e;
  if (o.at_key("stream").get(e) != simdjson::SUCCESS) return true;
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) return false;
  *out = std::string(v);
  return true;
}

int Unexpected(const redisReply* r) { return Fail("unexpected reply from the server: " + std::string(Text(r))); }


// "patient.42's tree" / "the log's tree"
std::string TreeName(const std::optional<std::string>& stream) {
  return stream ? "stream " + *stream + "'s tree" : "the log's tree";
}

std::string StreamArgument(const std::optional<std::string>& stream) {
  return stream ? "{\"stream\":" + JsonString(*stream) + "}" : "{}";
}

// A fetched TREEHEAD reply, parsed. `raw` is its JSON text.
struct FetchedHead {
  TreeHead head;
  std::string raw;
};

enum class Outcome { kOk, kError, kFailed };

// TREEHEAD for `stream`, parsed and signature-checked. kError: an error was printed; kFailed:
// *reason says why the head is not to be trusted.
Outcome FetchTreeHead(Connection& c, const std::optional<std::string>& stream, FetchedHead* out,
                      std::string* reason) {
  Reply reply = Send(c, {"TREEHEAD", StreamArgument(stream)});
  if (reply == nullptr) return Outcome::kError;
  dom::parser parser;
  dom::object o;
  if (!ParseObject(parser, reply.get(), &o)) return Outcome::kError;
  out->raw = std::string(Text(reply.get()));
  TreeHead& h = out->head;
  if (!GetOptionalStream(o, &h.stream) || !GetU64(o, "tree_size", &h.tree_size) || !GetString(o, "root", &h.root) ||
      !GetString(o, "timestamp", &h.timestamp) || !GetString(o, "key_id", &h.key_id) ||
      !GetString(o, "public_key", &h.public_key) || !GetString(o, "signature", &h.signature)) {
    Unexpected(reply.get());
    return Outcome::kError;
  }
  if (h.stream != stream) {
    *reason = "the server sent the tree head of " + TreeName(h.stream) + " instead of " + TreeName(stream);
    return Outcome::kFailed;
  }
  std::string why;
  if (!VerifyTreeHeadSignature(h, &why)) {
    *reason = "the tree head's signature does not verify: " + why;
    return Outcome::kFailed;
  }
  return Outcome::kOk;
}

// The event to prove, fetched and parsed; raw is its JSON text.
struct FetchedEvent {
  storage::Event event;
  std::string raw;
};

bool FetchEvent(Connection& c, const ProofOptions& o, FetchedEvent* out) {
  Reply reply;
  if (o.stream) {
    reply = Send(c, {"GET", "{\"stream\":" + JsonString(*o.stream) + ",\"version\":" + std::to_string(*o.version - 1) +
                                ",\"limit\":1}"});
  } else {
    reply = Send(c, {"GETALL", "{\"offset\":" + std::to_string(*o.position - 1) + ",\"limit\":1}"});
  }
  if (reply == nullptr || !IsJsonArray(reply.get())) return false;
  const std::string what =
      o.stream ? "stream " + *o.stream + " has no version " + std::to_string(*o.version)
               : "no event at position " + std::to_string(*o.position) + " (or not readable with these rights)";
  if (reply->elements == 0) {
    Fail(what);
    return false;
  }
  const redisReply* e = reply->element[0];
  if (e->type != REDIS_REPLY_STRING) {
    Unexpected(e);
    return false;
  }
  out->raw = std::string(Text(e));
  std::string why;
  if (!storage::ParseEventJson(out->raw, &out->event, &why)) {
    Fail("the server sent an event that does not parse (" + why + "): " + out->raw);
    return false;
  }
  const bool right = o.stream ? out->event.stream == *o.stream && out->event.version == *o.version
                              : out->event.position == *o.position;
  if (!right) {
    Fail(what);
    return false;
  }
  return true;
}

}  // namespace

int RunProof(const ProofOptions& o) {
  if (o.position.has_value() == (o.stream.has_value() || o.version.has_value())) {
    return Fail("give either STREAM VERSION or --position=P");
  }
  if (o.stream && !o.version) return Fail("give the event's version: eventful proof STREAM VERSION");
  if ((o.version && *o.version < 1) || (o.position && *o.position < 1)) {
    return Fail("versions and positions start at 1");
  }
  if (o.tree_size && *o.tree_size < 1) return Fail("--tree-size must be at least 1");
  const uint64_t leaf_number = o.stream ? *o.version : *o.position;
  if (o.tree_size && *o.tree_size < leaf_number) {
    return Fail("--tree-size=" + std::to_string(*o.tree_size) + " is smaller than the event's " +
                (o.stream ? "version" : "position"));
  }

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Verdict verdict(o.connection.json);

  // 1. The event, and its hash recomputed here from its content.
  FetchedEvent fetched;
  if (!FetchEvent(c, o, &fetched)) return 1;
  verdict.Attach("event", fetched.raw);
  const storage::Event& event = fetched.event;
  const std::string label = event.stream + " v" + std::to_string(event.version) +
                            (o.position ? " (position " + std::to_string(event.position) + ")" : "");
  const Hash leaf = storage::ComputeEventHash(event);
  if (storage::ToHex(leaf) != event.hash) {
    return verdict.Failed("the content of " + label + " does not match its hash: recomputed " + storage::ToHex(leaf) +
                          ", the event says " + event.hash);
  }

  // 2. The current signed tree head; the proof is asked against its size unless told otherwise.
  const std::optional<std::string> tree_stream = o.stream;
  FetchedHead head;
  std::string reason;
  switch (FetchTreeHead(c, tree_stream, &head, &reason)) {
    case Outcome::kError: return 1;
    case Outcome::kFailed: verdict.Attach("treehead", head.raw); return verdict.Failed(reason);
    case Outcome::kOk: verdict.Attach("treehead", head.raw); break;
  }
  const uint64_t tree_size = o.tree_size.value_or(head.head.tree_size);

  // 3. The inclusion proof, checked here.
  std::string request = o.stream ? "{\"stream\":" + JsonString(*o.stream) + ",\"version\":" + std::to_string(*o.version)
                                 : "{\"position\":" + std::to_string(*o.position);
  request += ",\"tree_size\":" + std::to_string(tree_size) + "}";
  Reply reply = Send(c, {"PROOF", request});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object proof;
  if (!ParseObject(parser, reply.get(), &proof)) return 1;
  verdict.Attach("proof", Text(reply.get()));
  std::optional<std::string> proof_stream;
  uint64_t leaf_index = 0;
  uint64_t proof_size = 0;
  Hash leaf_hash;
  Hash root;
  std::string root_hex;
  std::vector<Hash> path;
  if (!GetOptionalStream(proof, &proof_stream) || !GetU64(proof, "leaf_index", &leaf_index) ||
      !GetU64(proof, "tree_size", &proof_size) || !GetHash(proof, "leaf_hash", &leaf_hash) ||
      !GetString(proof, "root", &root_hex) || !storage::FromHex(root_hex, &root) || !GetHashes(proof, "path", &path)) {
    return Unexpected(reply.get());
  }
  if (proof_stream != tree_stream || leaf_index != leaf_number - 1 || proof_size != tree_size) {
    return verdict.Failed("the server sent a proof for another leaf or tree (" + TreeName(proof_stream) + ", leaf " +
                          std::to_string(leaf_index) + " of " + std::to_string(proof_size) + ")");
  }
  if (leaf_hash != leaf) {
    return verdict.Failed("the proof's leaf hash " + storage::ToHex(leaf_hash) + " is not the hash of " + label);
  }
  if (!VerifyInclusion(leaf_index, proof_size, leaf, path, root)) {
    return verdict.Failed("the inclusion proof of " + label + " does not lead to the root " + root_hex);
  }
  std::string signed_note;
  if (proof_size == head.head.tree_size) {
    Hash signed_root{};
    if (!storage::FromHex(head.head.root, &signed_root) || signed_root != root) {
      return verdict.Failed("the proof's root " + root_hex + " is not the signed tree head's root " + head.head.root);
    }
    signed_note = ", signed at " + head.head.timestamp + " by key " + head.head.key_id;
  } else {
    signed_note = "; the current signed tree head has size " + std::to_string(head.head.tree_size) +
                  " (check with: eventful consistency --from=" + std::to_string(proof_size) +
                  (o.stream ? " --stream=" + *o.stream : "") + ")";
  }
  return verdict.Verified("verified: " + label + " is in " + TreeName(tree_stream) + " of size " +
                          std::to_string(proof_size) + " (root " + root_hex + ")" + signed_note);
}

int RunConsistency(const ConsistencyOptions& o) {
  if (o.from < 1) return Fail("--from must be at least 1");
  if (o.to && *o.to < o.from) return Fail("--to must not be smaller than --from");
  Hash remembered{};
  if (o.from_root && !storage::FromHex(*o.from_root, &remembered)) {
    return Fail("--from-root must be 64 hex characters");
  }

  Connection c;
  if (!c.Open(o.connection)) return 1;
  Verdict verdict(o.connection.json);

  // Without --to: against the current signed tree head.
  std::optional<FetchedHead> head;
  if (!o.to) {
    head.emplace();
    std::string reason;
    switch (FetchTreeHead(c, o.stream, &*head, &reason)) {
      case Outcome::kError: return 1;
      case Outcome::kFailed: verdict.Attach("treehead", head->raw); return verdict.Failed(reason);
      case Outcome::kOk: verdict.Attach("treehead", head->raw); break;
    }
  }
  const uint64_t to = o.to ? *o.to : head->head.tree_size;
  if (to < o.from) {
    return Fail(TreeName(o.stream) + " has only " + std::to_string(to) + " leaves, fewer than --from=" +
                std::to_string(o.from));
  }

  std::string request = "{";
  if (o.stream) request += "\"stream\":" + JsonString(*o.stream) + ",";
  request += "\"from\":" + std::to_string(o.from) + ",\"to\":" + std::to_string(to) + "}";
  Reply reply = Send(c, {"CONSISTENCY", request});
  if (reply == nullptr) return 1;
  dom::parser parser;
  dom::object proof;
  if (!ParseObject(parser, reply.get(), &proof)) return 1;
  verdict.Attach("proof", Text(reply.get()));
  std::optional<std::string> proof_stream;
  uint64_t from = 0;
  uint64_t proof_to = 0;
  std::string from_hex;
  std::string to_hex;
  Hash from_root;
  Hash to_root;
  std::vector<Hash> path;
  if (!GetOptionalStream(proof, &proof_stream) || !GetU64(proof, "from", &from) || !GetU64(proof, "to", &proof_to) ||
      !GetString(proof, "from_root", &from_hex) || !storage::FromHex(from_hex, &from_root) ||
      !GetString(proof, "to_root", &to_hex) || !storage::FromHex(to_hex, &to_root) || !GetHashes(proof, "path", &path)) {
    return Unexpected(reply.get());
  }
  if (proof_stream != o.stream || from != o.from || proof_to != to) {
    return verdict.Failed("the server sent a proof for other trees (" + TreeName(proof_stream) + ", " +
                          std::to_string(from) + " to " + std::to_string(proof_to) + ")");
  }
  if (!VerifyConsistency(from, proof_to, from_root, to_root, path)) {
    return verdict.Failed("the consistency proof from size " + std::to_string(from) + " to " +
                          std::to_string(proof_to) + " does not verify");
  }
  if (o.from_root && from_root != remembered) {
    return verdict.Failed(TreeName(o.stream) + " of size " + std::to_string(from) + " now has root " + from_hex +
                          ", not the remembered " + *o.from_root + ": history was rewritten");
  }
  std::string signed_note;
  if (head) {
    Hash signed_root{};
    if (!storage::FromHex(head->head.root, &signed_root) || signed_root != to_root) {
      return verdict.Failed("the proof's new root " + to_hex + " is not the signed tree head's root " +
                            head->head.root);
    }
    signed_note = ", signed at " + head->head.timestamp + " by key " + head->head.key_id;
  }
  return verdict.Verified("verified: " + TreeName(o.stream) + " of size " + std::to_string(from) + " (root " +
                          from_hex + (o.from_root ? ", as remembered" : "") + ") is a prefix of its tree of size " +
                          std::to_string(proof_to) + " (root " + to_hex + ")" + signed_note);
}

int RunTreehead(const TreeheadOptions& o) {
  Connection c;
  if (!c.Open(o.connection)) return 1;
  FetchedHead head;
  std::string reason;
  const Outcome outcome = FetchTreeHead(c, o.stream, &head, &reason);
  if (outcome == Outcome::kError) return 1;
  if (o.connection.json) {
    // The reply as sent, so that it can be kept and checked again later.
    PrintLine(head.raw);
  } else {
    const TreeHead& h = head.head;
    if (h.stream) std::printf("stream:     %s\n", h.stream->c_str());
    std::printf("tree_size:  %llu\nroot:       %s\ntimestamp:  %s\nkey_id:     %s\npublic_key: %s\nsignature:  %s\n",
                static_cast<unsigned long long>(h.tree_size), h.root.c_str(), h.timestamp.c_str(),
                h.key_id.c_str(), h.public_key.c_str(), h.signature.c_str());
  }
  if (outcome == Outcome::kFailed) {
    std::fprintf(stderr, "verification FAILED: %s\n", reason.c_str());
    return kFailed;
  }
  if (!o.connection.json) std::printf("verified:   Ed25519 signature by key %s\n", head.head.key_id.c_str());
  return 0;
}

namespace {

// The same JSON report as the server's VERIFY {}.
std::string StoreReportJson(const storage::StoreVerifyReport& r) {
  std::string out = r.ok ? "{\"ok\":true" : "{\"ok\":false";
  out += ",\"events\":" + std::to_string(r.events) + ",\"streams\":" + std::to_string(r.streams) +
         ",\"root\":" + JsonString(r.root) + ",\"bad\":[";
  for (size_t i = 0; i < r.bad.size(); ++i) {
    if (i > 0) out += ',';
    out += r.bad[i];
  }
  return out + "]}";
}

// Opens the data directory's store directly (decrypted with the checked DEK) and runs VerifyAll.
// Errors are printed; returns false then.
bool VerifyOffline(const StoreVerifyOptions& o, std::string* report_json) {
  namespace fs = std::filesystem;
  const std::string& data_dir = *o.data_dir;
  server::ServerConfig layout;  // where the store is (config.toml's store_dir), if configured
  if (fs::exists(fs::path(data_dir) / "config.toml")) {
    if (Status s = server::LoadConfig(data_dir, &layout); !s.ok()) {
      Fail(s.message());
      return false;
    }
  }
  const fs::path db = fs::path(data_dir) / layout.store_dir;
  std::error_code ec;
  if (!fs::is_directory(db, ec)) {
    Fail("no store in " + data_dir + " (" + db.string() + " does not exist)");
    return false;
  }
  server::LaunchOptions launch;
  launch.data_dir = data_dir;
  launch.dek = o.dek;
  launch.dek_file = o.dek_file;
  server::ServerConfig config;
  if (Status s = server::PrepareLaunch(launch, &config); !s.ok()) {
    Fail(s.message());
    return false;
  }
  storage::StoreOptions options;
  options.path = db.string();
  options.cache_events = 0;
  options.encryption_key = storage::DeriveDataKey(config.dek);
  std::unique_ptr<storage::Store> store;
  if (Status s = storage::Store::Open(options, &store); !s.ok()) {
    const std::string& m = s.message();
    if (m.find("lock") != std::string::npos || m.find("LOCK") != std::string::npos) {
      Fail("the store in " + data_dir + " is in use: the server is running. Stop it first (eventful stop --data-dir=" +
           data_dir + ") or verify through the running server: eventful verify (without --data-dir)");
    } else {
      Fail("cannot open the store in " + data_dir + ": " + m);
    }
    return false;
  }
  storage::StoreVerifyReport report;
  storage::VerifyControl control;
  const bool terminal = isatty(STDERR_FILENO) != 0;
  if (terminal) {
    control.progress = [](std::string_view phase, uint64_t done, uint64_t total) {
      std::fprintf(stderr, "\rverifying %.*s: %llu of %llu events", static_cast<int>(phase.size()), phase.data(),
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    };
  }
  const Status verified = store->VerifyAll(&report, control);
  if (terminal) std::fputs("\r\033[K", stderr);
  if (!verified.ok()) {
    Fail(verified.message());
    return false;
  }
  *report_json = StoreReportJson(report);
  return true;
}

}  // namespace

int RunStoreVerify(const StoreVerifyOptions& o) {
  std::string report_json;
  if (o.data_dir) {
    if (!VerifyOffline(o, &report_json)) return 1;
  } else {
    Connection c;
    if (!c.Open(o.connection)) return 1;
    Reply reply = Send(c, {"VERIFY", "{}"});
    if (reply == nullptr) return 1;
    if (reply->type != REDIS_REPLY_STRING) return Unexpected(reply.get());
    report_json = std::string(Text(reply.get()));
  }
  dom::parser parser;
  dom::object report;
  bool ok = false;
  uint64_t events = 0;
  uint64_t streams = 0;
  std::string root;
  dom::array bad;
  if (parser.parse(report_json).get_object().get(report) != simdjson::SUCCESS ||
      report["ok"].get_bool().get(ok) != simdjson::SUCCESS) {
    return Fail("unexpected verification report: " + report_json);
  }
  // A passing report must say what it covered; a failing one is shown with whatever it has.
  const bool complete = GetU64(report, "events", &events) && GetU64(report, "streams", &streams) &&
                        GetString(report, "root", &root);
  const bool has_bad = report["bad"].get_array().get(bad) == simdjson::SUCCESS;
  if (ok && (!complete || !has_bad)) return Fail("unexpected verification report: " + report_json);
  if (o.connection.json) {
    PrintLine(report_json);
    return ok ? 0 : kFailed;
  }
  const std::string where = o.data_dir ? " (offline, " + *o.data_dir + ")" : "";
  if (ok) {
    std::printf("verified: %llu events in %llu streams, log root %s%s\n", static_cast<unsigned long long>(events),
                static_cast<unsigned long long>(streams), root.c_str(), where.c_str());
    return 0;
  }
  std::printf("verification FAILED: %zu problem(s) in %llu events, %llu streams%s\n", has_bad ? bad.size() : 0,
              static_cast<unsigned long long>(events), static_cast<unsigned long long>(streams), where.c_str());
  if (!has_bad) return kFailed;
  for (dom::element e : bad) std::printf("  %s\n", simdjson::minify(e).c_str());
  return kFailed;
}

}  // namespace eventful::cli
