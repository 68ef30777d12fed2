#include "server/json_request.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "storage/clock.h"

namespace eventful::server {
namespace {

namespace od = simdjson::ondemand;
using storage::Payload;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

Status BadJson(simdjson::error_code e) {
  return Status::Err(std::string("invalid JSON argument: ") + simdjson::error_message(e));
}

// Holds the padded copy and the parser for one request. Thread-local parser reuse keeps the hot
// path allocation-light.
struct Doc {
  simdjson::padded_string padded;
  od::document doc;
};

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

// Iterates the top-level object of `json`, calling field(key, value) for each member; `field`
// returns a Status; the first failure stops. Checks the document is one object and nothing follows.
// The on-demand parser is lazy: it would report a content error (INVALID, LIMIT) found before a
// syntax error later in the text. PROTOCOL.md §8 makes malformed JSON an ERR whatever else is
// wrong, so the whole document is walked once first (every key, string, number and literal), then
// rewound for the typed pass. Numbers too large for 64 bits are valid JSON and pass (as doubles).
simdjson::error_code WalkValue(od::value v) {
  od::json_type t;
  if (auto e = v.type().get(t); e) return e;
  switch (t) {
    case od::json_type::object: {
      od::object obj;
      if (auto e = v.get_object().get(obj); e) return e;
      for (auto f : obj) {
        std::string_view key;
        if (auto e = f.unescaped_key().get(key); e) return e;
        od::value fv;
        if (auto e = f.value().get(fv); e) return e;
        if (auto e = WalkValue(fv); e) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr); e) return e;
      for (auto item : arr) {
        od::value iv;
        if (auto e = item.get(iv); e) return e;
        if (auto e = WalkValue(iv); e) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number: {
      double d;
      return v.get_double().get(d);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null); e) return e;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

Status ValidateDocument(od::document& doc) {
  od::json_type t;
  if (auto e = doc.type().get(t); e) return BadJson(e);
  if (t != od::json_type::object) return Status::Err("argument must be a JSON object");
  od::object obj;
  if (auto e = doc.get_object().get(obj); e) return BadJson(e);
  for (auto f : obj) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key); e) return BadJson(e);
    od::value fv;
    if (auto e = f.value().get(fv); e) return BadJson(e);
    if (auto e = WalkValue(fv); e) return BadJson(e);
  }
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return Status::Err("invalid JSON argument: trailing content");
  }
  doc.rewind();
  return Status::Ok();
}

template <typename Fn>
Status ForEachTopField(std::string_view json, Fn&& field) {
  Doc d{simdjson::padded_string(json), {}};
  if (auto e = ThreadParser().iterate(d.padded).get(d.doc); e) return BadJson(e);
  if (Status v = ValidateDocument(d.doc); !v.ok()) return v;
  od::json_type type;
  if (auto e = d.doc.type().get(type); e) return BadJson(e);
  if (type != od::json_type::object) return Status::Err("argument must be a JSON object");
  od::object obj;
  if (auto e = d.doc.get_object().get(obj); e) return BadJson(e);
  std::unordered_set<std::string> seen;
  for (auto f : obj) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key); e) return BadJson(e);
    if (!seen.insert(std::string(key)).second) return Status::Err("duplicate key " + Quote(key));
    od::value v;
    if (auto e = f.value().get(v); e) return BadJson(e);
    Status s = field(std::string(key), v);
    if (!s.ok()) return s;
  }
  if (d.doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return Status::Err("invalid JSON argument: trailing content");
  }
  return Status::Ok();
}

template <typename Fn>
Status ForEachField(od::value v, std::string_view what, Fn&& field) {
  od::object obj;
  if (auto e = v.get_object().get(obj); e) return Status::Err(std::string(what) + " must be a JSON object");
  std::unordered_set<std::string> seen;
  for (auto f : obj) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key); e) return BadJson(e);
    if (!seen.insert(std::string(key)).second) return Status::Err("duplicate key " + Quote(key) + " in " + std::string(what));
    od::value fv;
    if (auto e = f.value().get(fv); e) return BadJson(e);
    Status s = field(std::string(key), fv);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status TypeOf(od::value& v, od::json_type* t) {
  if (auto e = v.type().get(*t); e) return BadJson(e);
  return Status::Ok();
}

Status GetString(od::value& v, std::string_view key, std::string* out) {
  std::string_view s;
  if (auto e = v.get_string().get(s); e) return Status::Err(Quote(key) + " must be a string");
  *out = std::string(s);
  return Status::Ok();
}

// A non-negative integer. `what` names the key in errors.
Status GetCount(od::value& v, std::string_view key, uint64_t* out) {
  od::json_type t;
  Status s = TypeOf(v, &t);
  if (!s.ok()) return s;
  if (t != od::json_type::number) return Status::Err(Quote(key) + " must be a non-negative integer");
  int64_t i = 0;
  if (v.get_int64().get(i) != simdjson::SUCCESS) {
    uint64_t u = 0;
    if (v.get_uint64().get(u) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be a non-negative integer");
    *out = u;
    return Status::Ok();
  }
  if (i < 0) return Status::Err(Quote(key) + " must be a non-negative integer");
  *out = static_cast<uint64_t>(i);
  return Status::Ok();
}

Status GetPageLimit(od::value& v, uint64_t default_limit, uint64_t* out) {
  od::json_type t;
  Status s = TypeOf(v, &t);
  if (!s.ok()) return s;
  int64_t i = 0;
  if (t != od::json_type::number || v.get_int64().get(i) != simdjson::SUCCESS) {
    return Status::Err("'limit' must be an integer");
  }
  if (i < 0) return Status::Err("'limit' must not be negative");
  if (static_cast<uint64_t>(i) > kMaxPageLimit) {
    return Status::Err("'limit' must be at most " + std::to_string(kMaxPageLimit));
  }
  *out = i == 0 ? default_limit : static_cast<uint64_t>(i);
  return Status::Ok();
}

Status CheckStream(const std::string& name) {
  std::string why;
  if (!storage::ValidStreamName(name, &why)) return Status::Invalid(why);
  return Status::Ok();
}

// data / metadata: an object of scalar values (stored as strings) or one string.
Status ParsePayload(od::value& v, std::string_view key, Payload* out) {
  od::json_type t;
  Status s = TypeOf(v, &t);
  if (!s.ok()) return s;
  if (t == od::json_type::string) {
    out->is_string = true;
    return GetString(v, key, &out->text);
  }
  if (t != od::json_type::object) return Status::Err(Quote(key) + " must be a JSON object or a string");
  out->is_string = false;
  s = ForEachField(v, key, [&](const std::string& field, od::value fv) -> Status {
    if (!storage::ValidFieldName(field)) {
      return Status::Invalid("bad field name " + Quote(field) + " in " + std::string(key) +
                             ": 1-128 characters of A-Z a-z 0-9 _ - . :");
    }
    od::json_type ft;
    Status fs = TypeOf(fv, &ft);
    if (!fs.ok()) return fs;
    switch (ft) {
      case od::json_type::string: {
        std::string_view sv;
        if (auto e = fv.get_string().get(sv); e) return BadJson(e);
        out->fields.emplace_back(field, std::string(sv));
        return Status::Ok();
      }
      case od::json_type::number: {
        std::string_view raw = fv.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
          raw.remove_suffix(1);
        }
        // Validate that it really is a number (raw_json_token does not).
        double ignored;
        if (auto e = fv.get_double().get(ignored); e) return BadJson(e);
        out->fields.emplace_back(field, std::string(raw));
        return Status::Ok();
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto e = fv.get_bool().get(b); e) return BadJson(e);
        out->fields.emplace_back(field, b ? "true" : "false");
        return Status::Ok();
      }
      case od::json_type::null:
        if (bool is_null = false; fv.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
          return Status::Err("invalid JSON argument");
        }
        out->fields.emplace_back(field, std::nullopt);
        return Status::Ok();
      default:
        return Status::Invalid("nested value in " + std::string(key) + " field " + Quote(field) +
                               ": values must be strings, numbers, booleans or null");
    }
  });
  if (!s.ok()) return s;
  std::sort(out->fields.begin(), out->fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return Status::Ok();
}

Status ParseEvent(od::value& v, storage::EventInput* ev) {
  bool has_type = false;
  Status s = ForEachField(v, "an event", [&](const std::string& key, od::value fv) -> Status {
    if (key == "type") {
      has_type = true;
      return GetString(fv, key, &ev->type);
    }
    if (key == "id" || key == "causation_id" || key == "correlation_id") {
      std::string id;
      Status is = GetString(fv, key, &id);
      if (!is.ok()) return is;
      if (!storage::ValidEventId(id)) {
        return Status::Invalid("bad " + key + " " + Quote(id) + ": 1-64 characters of A-Z a-z 0-9 _ -");
      }
      (key == "id" ? ev->id : key == "causation_id" ? ev->causation_id : ev->correlation_id) = std::move(id);
      return Status::Ok();
    }
    if (key == "data") return ParsePayload(fv, key, &ev->data);
    if (key == "metadata") return ParsePayload(fv, key, &ev->metadata);
    return Status::Err("unknown key " + Quote(key) + " in an event");
  });
  if (!s.ok()) return s;
  if (!has_type) return Status::Err("missing 'type' in an event");
  if (ev->type.empty()) return Status::Invalid("event type must not be empty");
  if (ev->type.size() > 255) return Status::Invalid("event type is longer than 255 bytes");
  return Status::Ok();
}

Status ParseExpected(od::value& v, storage::ExpectedVersion* out) {
  od::json_type t;
  Status s = TypeOf(v, &t);
  if (!s.ok()) return s;
  const Status bad = Status::Err("'version' must be a non-negative integer, \"any\" or \"exists\"");
  if (t == od::json_type::string) {
    std::string_view sv;
    if (v.get_string().get(sv) != simdjson::SUCCESS) return bad;
    if (sv == "any") {
      out->kind = storage::ExpectedVersion::Kind::kAny;
    } else if (sv == "exists") {
      out->kind = storage::ExpectedVersion::Kind::kExists;
    } else {
      return bad;
    }
    return Status::Ok();
  }
  uint64_t n = 0;
  if (t != od::json_type::number || !GetCount(v, "version", &n).ok()) return bad;
  out->kind = storage::ExpectedVersion::Kind::kExact;
  out->version = n;
  return Status::Ok();
}

// One stream's part of an ADD: the top-level object (single form) or one element of "streams".
// `field` receives one key; unknown keys are rejected by the caller.
struct StreamPart {
  bool has_stream = false;
  bool has_events = false;
  storage::StreamAppend append;
};

Status ParseStreamField(const std::string& key, od::value& v, StreamPart* p, uint64_t* event_total,
                        const RequestLimits& limits) {
  if (key == "stream") {
    p->has_stream = true;
    return GetString(v, key, &p->append.stream);
  }
  if (key == "version") return ParseExpected(v, &p->append.expected);
  if (key == "events") {
    p->has_events = true;
    od::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) return Status::Err("'events' must be an array");
    for (auto item : arr) {
      od::value ev;
      if (auto e = item.get(ev); e) return BadJson(e);
      if (++*event_total > limits.max_events_per_add) {
        return Status::Limit("more than " + std::to_string(limits.max_events_per_add) + " events in one ADD");
      }
      storage::EventInput in;
      Status s = ParseEvent(ev, &in);
      if (!s.ok()) return s;
      p->append.events.push_back(std::move(in));
    }
    return Status::Ok();
  }
  return Status::Err("unknown key " + Quote(key));
}

Status FinishStreamPart(StreamPart& p) {
  if (!p.has_stream) return Status::Err("missing 'stream'");
  if (!p.has_events) return Status::Err("missing 'events'");
  Status s = CheckStream(p.append.stream);
  if (!s.ok()) return s;
  if (storage::IsSystemStream(p.append.stream)) {
    return Status::NoPerm("stream " + Quote(p.append.stream) + " is a system stream: only the server writes it");
  }
  if (p.append.events.empty()) return Status::Invalid("empty events list for stream " + Quote(p.append.stream));
  return Status::Ok();
}

Status ParseFilter(od::value& v, storage::LogFilter* f) {
  return ForEachField(v, "'filter'", [&](const std::string& key, od::value fv) -> Status {
    if (key == "streams" || key == "types") {
      od::array arr;
      if (fv.get_array().get(arr) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be an array of strings");
      for (auto item : arr) {
        std::string_view s;
        if (item.get_string().get(s) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be an array of strings");
        if (key == "types") {
          f->types.emplace_back(s);
        } else {
          storage::Pattern p;
          std::string why;
          if (!storage::Pattern::Parse(s, &p, &why)) return Status::Invalid(why);
          f->streams.push_back(std::move(p));
        }
      }
      return Status::Ok();
    }
    if (key == "since" || key == "until") {
      std::string text;
      Status s = GetString(fv, key, &text);
      if (!s.ok()) return s;
      int64_t ms = 0;
      if (!storage::ParseRfc3339(text, &ms)) return Status::Err(Quote(key) + " must be an RFC 3339 date-time");
      (key == "since" ? f->since_ms : f->until_ms) = ms;
      return Status::Ok();
    }
    return Status::Err("unknown key " + Quote(key) + " in 'filter'");
  });
}

}  // namespace

Status ParseAddRequest(std::string_view json, const RequestLimits& limits, storage::AppendRequest* out) {
  out->streams.clear();
  StreamPart single;
  bool single_form = false, multi_form = false;
  uint64_t total = 0;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "streams") {
      multi_form = true;
      od::array arr;
      if (v.get_array().get(arr) != simdjson::SUCCESS) return Status::Err("'streams' must be an array");
      for (auto item : arr) {
        od::value sv;
        if (auto e = item.get(sv); e) return BadJson(e);
        StreamPart part;
        Status ps = ForEachField(sv, "an element of 'streams'", [&](const std::string& k, od::value fv) -> Status {
          return ParseStreamField(k, fv, &part, &total, limits);
        });
        if (!ps.ok()) return ps;
        ps = FinishStreamPart(part);
        if (!ps.ok()) return ps;
        out->streams.push_back(std::move(part.append));
      }
      return Status::Ok();
    }
    single_form = true;
    return ParseStreamField(key, v, &single, &total, limits);
  });
  if (!s.ok()) return s;
  if (multi_form && single_form) return Status::Err("use either 'streams' or 'stream'/'version'/'events', not both");
  if (multi_form) {
    if (out->streams.empty()) return Status::Invalid("empty streams list");
    std::unordered_set<std::string_view> names;
    for (const auto& sa : out->streams) {
      if (!names.insert(sa.stream).second) {
        return Status::Invalid("stream " + Quote(sa.stream) + " appears twice in one ADD");
      }
    }
    return Status::Ok();
  }
  s = FinishStreamPart(single);
  if (!s.ok()) return s;
  out->streams.push_back(std::move(single.append));
  return Status::Ok();
}

Status ParseGetRequest(std::string_view json, storage::ReadRequest* out) {
  *out = storage::ReadRequest{};
  out->limit = kDefaultGetLimit;
  bool has_stream = false;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "stream") {
      has_stream = true;
      return GetString(v, key, &out->stream);
    }
    if (key == "version") {
      uint64_t n = 0;
      Status vs = GetCount(v, key, &n);
      if (vs.ok()) out->version = n;
      return vs;
    }
    if (key == "limit") return GetPageLimit(v, kDefaultGetLimit, &out->limit);
    if (key == "direction") {
      std::string d;
      Status ds = GetString(v, key, &d);
      if (!ds.ok()) return ds;
      if (d != "forward" && d != "backward") return Status::Err("'direction' must be \"forward\" or \"backward\"");
      out->backward = d == "backward";
      return Status::Ok();
    }
    return Status::Err("unknown key " + Quote(key));
  });
  if (!s.ok()) return s;
  if (!has_stream) return Status::Err("missing 'stream'");
  return CheckStream(out->stream);
}

Status ParseGetAllRequest(std::string_view json, GetAllRequest* out) {
  *out = GetAllRequest{};
  if (json.empty()) return Status::Ok();
  return ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "offset") {
      od::json_type t;
      Status ts = TypeOf(v, &t);
      if (!ts.ok()) return ts;
      if (t == od::json_type::string) {
        std::string id;
        Status is = GetString(v, key, &id);
        if (!is.ok()) return is;
        out->offset = std::move(id);
        return Status::Ok();
      }
      uint64_t n = 0;
      if (t != od::json_type::number || !GetCount(v, key, &n).ok()) {
        return Status::Err("'offset' must be a non-negative integer (a position) or a string (an event id)");
      }
      out->offset = n;
      return Status::Ok();
    }
    if (key == "limit") return GetPageLimit(v, kDefaultGetAllLimit, &out->limit);
    if (key == "filter") return ParseFilter(v, &out->filter);
    return Status::Err("unknown key " + Quote(key));
  });
}

Status ParseEventGetRequest(std::string_view json, EventGetRequest* out) {
  bool has = false;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "hash" || key == "id") {
      if (has) return Status::Err("give either 'hash' or 'id', not both");
      has = true;
      out->by_hash = key == "hash";
      return GetString(v, key, &out->key);
    }
    return Status::Err("unknown key " + Quote(key));
  });
  if (!s.ok()) return s;
  if (!has) return Status::Err("missing 'hash' or 'id'");
  return Status::Ok();
}

Status ParseListRequest(std::string_view json, ListRequest* out) {
  *out = ListRequest{};
  if (json.empty()) return Status::Ok();
  return ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "pattern") {
      std::string text;
      Status ps = GetString(v, key, &text);
      if (!ps.ok()) return ps;
      storage::Pattern p;
      std::string why;
      if (!storage::Pattern::Parse(text, &p, &why)) return Status::Invalid(why);
      out->pattern = std::move(p);
      return Status::Ok();
    }
    if (key == "after") return GetString(v, key, &out->after);
    if (key == "limit") return GetPageLimit(v, kDefaultListLimit, &out->limit);
    if (key == "type") {
      std::string type;
      if (Status ts = GetString(v, key, &type); !ts.ok()) return ts;
      std::string why;
      if (type.find('.') != std::string::npos || storage::IsSystemStream(type) || !storage::ValidStreamName(type, &why)) {
        return Status::Invalid("'type' must be an aggregate type (one stream-name token)");
      }
      out->type = std::move(type);
      return Status::Ok();
    }
    return Status::Err("unknown key " + Quote(key));
  });
}

Status ParseStreamOrLogRequest(std::string_view json, std::optional<std::string>* stream) {
  stream->reset();
  if (json.empty()) return Status::Ok();
  return ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "stream") {
      std::string name;
      Status s = GetString(v, key, &name);
      if (!s.ok()) return s;
      s = CheckStream(name);
      if (!s.ok()) return s;
      *stream = std::move(name);
      return Status::Ok();
    }
    return Status::Err("unknown key " + Quote(key));
  });
}

namespace {

Status GetStream(od::value& v, std::string_view key, std::optional<std::string>* out) {
  std::string name;
  Status s = GetString(v, key, &name);
  if (s.ok()) s = CheckStream(name);
  if (s.ok()) *out = std::move(name);
  return s;
}

}  // namespace

Status ParseProofRequest(std::string_view json, ProofRequest* out) {
  *out = ProofRequest{};
  std::optional<uint64_t> version, position;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    uint64_t n = 0;
    if (key == "stream") return GetStream(v, key, &out->stream);
    if (key == "version" || key == "position" || key == "tree_size") {
      Status cs = GetCount(v, key, &n);
      if (!cs.ok()) return cs;
      (key == "version" ? version : key == "position" ? position : out->tree_size) = n;
      return Status::Ok();
    }
    return Status::Err("unknown key " + Quote(key));
  });
  if (!s.ok()) return s;
  if (out->stream) {
    if (position) return Status::Err("give 'stream' and 'version', or 'position', not both");
    if (!version) return Status::Err("missing 'version'");
    out->leaf = *version;
  } else {
    if (version) return Status::Err("'version' needs 'stream'");
    if (!position) return Status::Err("missing 'stream' and 'version', or 'position'");
    out->leaf = *position;
  }
  return Status::Ok();
}

Status ParseConsistencyRequest(std::string_view json, ConsistencyRequest* out) {
  *out = ConsistencyRequest{};
  bool has_from = false;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "stream") return GetStream(v, key, &out->stream);
    if (key == "from") {
      has_from = true;
      return GetCount(v, key, &out->from);
    }
    if (key == "to") {
      uint64_t n = 0;
      Status cs = GetCount(v, key, &n);
      if (cs.ok()) out->to = n;
      return cs;
    }
    return Status::Err("unknown key " + Quote(key));
  });
  if (!s.ok()) return s;
  if (!has_from) return Status::Err("missing 'from'");
  return Status::Ok();
}

namespace {

Status GetBool(od::value& v, std::string_view key, bool* out) {
  if (v.get_bool().get(*out) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be true or false");
  return Status::Ok();
}

Status GetPatterns(od::value& v, std::string_view key, std::vector<std::string>* out) {
  od::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be an array of stream patterns");
  for (auto e : a) {
    std::string_view text;
    if (e.get_string().get(text) != simdjson::SUCCESS) return Status::Err(Quote(key) + " must be an array of stream patterns");
    storage::Pattern p;
    std::string why;
    if (!storage::Pattern::Parse(text, &p, &why)) return Status::Invalid(why);
    out->emplace_back(text);
  }
  return Status::Ok();
}

Status GetPermissions(od::value& v, storage::Permissions* out) {
  *out = storage::Permissions{};
  return ForEachField(v, "'permissions'", [&](const std::string& key, od::value f) -> Status {
    if (key == "read") return GetPatterns(f, key, &out->read);
    if (key == "write") return GetPatterns(f, key, &out->write);
    if (key == "admin") return GetBool(f, key, &out->admin);
    return Status::Err("unknown key " + Quote(key) + " in 'permissions'");
  });
}

// Names and identifiers: 1-128 characters of A-Z a-z 0-9 _ - . : @ +
Status GetLabel(od::value& v, std::string_view key, std::string* out) {
  Status s = GetString(v, key, out);
  if (!s.ok()) return s;
  bool good = !out->empty() && out->size() <= 128;
  for (char c : *out) {
    good = good && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' || c == '@' || c == '+');
  }
  if (!good) return Status::Invalid(Quote(key) + " must be 1-128 characters of A-Z a-z 0-9 _ - . : @ +");
  return Status::Ok();
}

}  // namespace

Status ParseTokenRequest(std::string_view json, std::initializer_list<std::string_view> allowed, TokenRequest* out) {
  *out = TokenRequest{};
  if (json.empty()) return Status::Ok();
  return ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return Status::Err("unknown key " + Quote(key));
    auto set_string = [&](std::optional<std::string>* field) {
      std::string text;
      Status s = GetString(v, key, &text);
      if (s.ok()) *field = std::move(text);
      return s;
    };
    auto set_label = [&](std::optional<std::string>* field) {
      std::string text;
      Status s = GetLabel(v, key, &text);
      if (s.ok()) *field = std::move(text);
      return s;
    };
    auto set_count = [&](std::optional<uint64_t>* field) {
      uint64_t n = 0;
      Status s = GetCount(v, key, &n);
      if (s.ok()) *field = n;
      return s;
    };
    auto set_bool = [&](std::optional<bool>* field) {
      bool b = false;
      Status s = GetBool(v, key, &b);
      if (s.ok()) *field = b;
      return s;
    };
    if (key == "auth_key") {
      od::json_type t;
      if (Status s = TypeOf(v, &t); !s.ok()) return s;
      if (t == od::json_type::boolean) return set_bool(&out->auth_key_flag);
      return set_string(&out->auth_key);
    }
    if (key == "name") return set_label(&out->name);
    if (key == "token") return set_string(&out->token);
    if (key == "id") return set_string(&out->id);
    if (key == "identifier_type") return set_label(&out->identifier_type);
    if (key == "identifier_id") return set_label(&out->identifier_id);
    if (key == "cursor") return set_string(&out->cursor);
    if (key == "expiration") return set_count(&out->expiration);
    if (key == "limit") return set_count(&out->limit);
    if (key == "take") return set_count(&out->take);
    if (key == "active") return set_bool(&out->active);
    if (key == "auth_keys") return set_bool(&out->auth_keys);
    if (key == "permissions") {
      storage::Permissions p;
      Status s = GetPermissions(v, &p);
      if (s.ok()) out->permissions = std::move(p);
      return s;
    }
    return Status::Err("unknown key " + Quote(key));
  });
}

Status ParseAggregateRequest(std::string_view json, std::initializer_list<std::string_view> allowed, AggregateRequest* out) {
  *out = AggregateRequest{};
  bool has_stream = false;
  Status s = ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (key == "stream") {
      has_stream = true;
      Status ss = GetString(v, key, &out->stream);
      return ss.ok() ? CheckStream(out->stream) : ss;
    }
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return Status::Err("unknown key " + Quote(key));
    if (key == "version") {
      uint64_t n = 0;
      Status vs = GetCount(v, key, &n);
      if (vs.ok()) out->version = n;
      return vs;
    }
    if (key == "comment") {
      Status cs = GetString(v, key, &out->comment);
      if (cs.ok() && out->comment.size() > 1024) return Status::Invalid("'comment' is over 1024 bytes");
      return cs;
    }
    return Status::Err("unknown key " + Quote(key));
  });
  if (!s.ok()) return s;
  if (!has_stream) return Status::Err("missing 'stream'");
  return Status::Ok();
}

Status ParseControlRequest(std::string_view json, std::initializer_list<std::string_view> allowed, ControlRequest* out) {
  *out = ControlRequest{};
  if (json.empty()) return Status::Ok();
  return ForEachTopField(json, [&](const std::string& key, od::value v) -> Status {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return Status::Err("unknown key " + Quote(key));
    if (key == "stream") {
      std::string name;
      Status s = GetString(v, key, &name);
      if (s.ok()) s = CheckStream(name);
      if (s.ok()) out->stream = std::move(name);
      return s;
    }
    if (key == "aggregate") {
      std::string name;
      Status s = GetString(v, key, &name);
      if (s.ok()) out->aggregate = std::move(name);
      return s;
    }
    std::optional<bool>* target = key == "all" ? &out->all : key == "dry_run" ? &out->dry_run
                                  : key == "apply" ? &out->apply : &out->discard;
    bool b = false;
    Status s = GetBool(v, key, &b);
    if (s.ok()) *target = b;
    return s;
  });
}

}  // namespace eventful::server
