// The event's two JSON encodings (reply/storage JSON and canonical JCS) and the parser of the
// stored form. simdjson is confined to this file.
#include "storage/event.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>

#include "storage/json_text.h"

namespace eventful::storage {
namespace {

void AppendUint(std::string* out, uint64_t v) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Upper bound guess of a payload's JSON size (exact when nothing needs escaping).
size_t PayloadSizeHint(const Payload& p) {
  if (p.is_string) return p.text.size() + 2;
  size_t n = 2;
  for (const auto& [key, value] : p.fields) n += key.size() + (value ? value->size() + 2 : 4) + 4;
  return n;
}

size_t EventSizeHint(const Event& e) {
  return 200 + e.id.size() + e.stream.size() + e.type.size() + e.causation_id.size() +
         e.correlation_id.size() + e.added_at.size() + e.actor.size() + e.hash.size() +
         PayloadSizeHint(e.data) + PayloadSizeHint(e.metadata);
}

using Field = std::pair<std::string, std::optional<std::string>>;

void AppendField(std::string* out, const Field& f) {
  AppendJsonString(out, f.first);
  out->push_back(':');
  if (f.second) {
    AppendJsonString(out, *f.second);
  } else {
    out->append("null");
  }
}

// JCS of a payload: like AppendPayloadJson, but never trusts the fields to be sorted already.
void AppendCanonicalPayload(std::string* out, const Payload& p) {
  const auto& fields = p.fields;
  const auto less = [](const Field& a, const Field& b) { return a.first < b.first; };
  if (p.is_string || std::is_sorted(fields.begin(), fields.end(), less)) {
    AppendPayloadJson(out, p);
    return;
  }
  // std::string's ordering compares as unsigned bytes, which for UTF-8 is code point order:
  // the order of Python's sort_keys.
  std::vector<const Field*> sorted;
  sorted.reserve(fields.size());
  for (const Field& f : fields) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&less](const Field* a, const Field* b) { return less(*a, *b); });
  out->push_back('{');
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendField(out, *sorted[i]);
  }
  out->push_back('}');
}

void SetWhy(std::string* why, std::string text) {
  if (why != nullptr) *why = "event JSON: " + std::move(text);
}

// The 12 keys of the stored event, in contract order.
enum Key { kId, kStream, kVersion, kPosition, kType, kData, kMetadata, kCausationId,
           kCorrelationId, kAddedAt, kActor, kHash, kKeyCount };
constexpr std::string_view kKeyNames[kKeyCount] = {
    "id",           "stream",         "version",  "position", "type",  "data",
    "metadata",     "causation_id",   "correlation_id", "added_at", "actor", "hash"};

int KeyIndex(std::string_view key) {
  for (int i = 0; i < kKeyCount; ++i) {
    if (kKeyNames[i] == key) return i;
  }
  return -1;
}

bool ParsePayload(simdjson::dom::element v, std::string_view name, Payload* p, std::string* why) {
  std::string_view text;
  if (v.get_string().get(text) == simdjson::SUCCESS) {
    p->is_string = true;
    p->text = std::string(text);
    return true;
  }
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) {
    SetWhy(why, "'" + std::string(name) + "' must be an object or a string");
    return false;
  }
  p->is_string = false;
  for (simdjson::dom::key_value_pair kv : obj) {
    if (kv.value.is_null()) {
      p->fields.emplace_back(std::string(kv.key), std::nullopt);
    } else if (kv.value.get_string().get(text) == simdjson::SUCCESS) {
      p->fields.emplace_back(std::string(kv.key), std::string(text));
    } else {
      SetWhy(why, "'" + std::string(name) + "' values must be strings or null");
      return false;
    }
  }
  std::sort(p->fields.begin(), p->fields.end(),
            [](const Field& a, const Field& b) { return a.first < b.first; });
  const auto dup = std::adjacent_find(p->fields.begin(), p->fields.end(),
                                      [](const Field& a, const Field& b) { return a.first == b.first; });
  if (dup != p->fields.end()) {
    SetWhy(why, "'" + std::string(name) + "' has a duplicate key");
    return false;
  }
  return true;
}

}  // namespace

void AppendPayloadJson(std::string* out, const Payload& p) {
  if (p.is_string) {
    AppendJsonString(out, p.text);
    return;
  }
  out->push_back('{');
  for (size_t i = 0; i < p.fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendField(out, p.fields[i]);
  }
  out->push_back('}');
}

std::string CanonicalJson(const Event& e) {
  // Keys in bytewise order; the same text as Python's
  // json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
  std::string out;
  out.reserve(EventSizeHint(e));
  out.append("{\"actor\":");
  AppendJsonString(&out, e.actor);
  out.append(",\"added_at\":");
  AppendJsonString(&out, e.added_at);
  out.append(",\"causation_id\":");
  AppendJsonString(&out, e.causation_id);
  out.append(",\"correlation_id\":");
  AppendJsonString(&out, e.correlation_id);
  out.append(",\"data\":");
  AppendCanonicalPayload(&out, e.data);
  out.append(",\"id\":");
  AppendJsonString(&out, e.id);
  out.append(",\"metadata\":");
  AppendCanonicalPayload(&out, e.metadata);
  out.append(",\"stream\":");
  AppendJsonString(&out, e.stream);
  out.append(",\"type\":");
  AppendJsonString(&out, e.type);
  out.append(",\"version\":");
  AppendUint(&out, e.version);
  out.push_back('}');
  return out;
}

Hash ComputeEventHash(const Event& e) { return LeafHash(CanonicalJson(e)); }

std::string EventJson(const Event& e) {
  std::string out;
  out.reserve(EventSizeHint(e));
  out.append("{\"id\":");
  AppendJsonString(&out, e.id);
  out.append(",\"stream\":");
  AppendJsonString(&out, e.stream);
  out.append(",\"version\":");
  AppendUint(&out, e.version);
  out.append(",\"position\":");
  AppendUint(&out, e.position);
  out.append(",\"type\":");
  AppendJsonString(&out, e.type);
  out.append(",\"data\":");
  AppendPayloadJson(&out, e.data);
  out.append(",\"metadata\":");
  AppendPayloadJson(&out, e.metadata);
  out.append(",\"causation_id\":");
  AppendJsonString(&out, e.causation_id);
  out.append(",\"correlation_id\":");
  AppendJsonString(&out, e.correlation_id);
  out.append(",\"added_at\":");
  AppendJsonString(&out, e.added_at);
  out.append(",\"actor\":");
  AppendJsonString(&out, e.actor);
  out.append(",\"hash\":");
  AppendJsonString(&out, e.hash);
  out.push_back('}');
  return out;
}

bool ParseEventJson(std::string_view json, Event* out, std::string* why) {
  // One parser per thread: it keeps its buffers between calls. Views into it are copied out
  // before returning.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto err = parser.parse(json.data(), json.size()).get(root); err) {
    SetWhy(why, std::string("not valid JSON (") + simdjson::error_message(err) + ")");
    return false;
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    SetWhy(why, "not an object");
    return false;
  }
  Event e;
  bool seen[kKeyCount] = {};
  for (simdjson::dom::key_value_pair kv : obj) {
    const int k = KeyIndex(kv.key);
    if (k < 0) {
      SetWhy(why, "unexpected key '" + std::string(kv.key) + "'");
      return false;
    }
    const std::string name(kKeyNames[k]);
    if (seen[k]) {
      SetWhy(why, "duplicate key '" + name + "'");
      return false;
    }
    seen[k] = true;
    switch (k) {
      case kVersion:
      case kPosition: {
        uint64_t n = 0;
        if (kv.value.get_uint64().get(n) != simdjson::SUCCESS) {
          SetWhy(why, "'" + name + "' must be a non-negative integer");
          return false;
        }
        (k == kVersion ? e.version : e.position) = n;
        break;
      }
      case kData:
      case kMetadata:
        if (!ParsePayload(kv.value, name, k == kData ? &e.data : &e.metadata, why)) return false;
        break;
      default: {
        std::string_view s;
        if (kv.value.get_string().get(s) != simdjson::SUCCESS) {
          SetWhy(why, "'" + name + "' must be a string");
          return false;
        }
        std::string* field = k == kId              ? &e.id
                             : k == kStream        ? &e.stream
                             : k == kType          ? &e.type
                             : k == kCausationId   ? &e.causation_id
                             : k == kCorrelationId ? &e.correlation_id
                             : k == kAddedAt       ? &e.added_at
                             : k == kActor         ? &e.actor
                                                   : &e.hash;
        *field = std::string(s);
        break;
      }
    }
  }
  for (int k = 0; k < kKeyCount; ++k) {
    if (!seen[k]) {
      SetWhy(why, "missing key '" + std::string(kKeyNames[k]) + "'");
      return false;
    }
  }
  *out = std::move(e);
  return true;
}

bool StoredEventHash(std::string_view json, Hash* out) {
  constexpr std::string_view kHead = ",\"hash\":\"";
  constexpr size_t kTail = kHead.size() + 64 + 2;  // ,"hash":" + hex + "}
  if (json.size() < kTail) return false;
  const std::string_view tail = json.substr(json.size() - kTail);
  if (!tail.starts_with(kHead) || !tail.ends_with("\"}")) return false;
  return FromHex(tail.substr(kHead.size(), 64), out);
}

}  // namespace eventful::storage
