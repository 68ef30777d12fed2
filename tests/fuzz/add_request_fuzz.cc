// libFuzzer target for the ADD argument parser (server::ParseAddRequest).
//
// The input is the JSON argument of an ADD. The parser must never crash, and:
//   - a rejection carries one of the codes §8 allows for ADD (ERR, INVALID, NOPERM, LIMIT) and a
//     message;
//   - an accepted request is what the store relies on (storage/append.h): streams non-empty, each
//     with a valid, non-system, unique name and a non-empty event list; every event with a type of
//     1-255 bytes, valid ids, payload fields sorted bytewise, unique and validly named;
//   - parsing is deterministic, also into a reused output and with trailing whitespace added;
//   - with a smaller event limit, an accepted request is accepted again if it fits and is LIMIT
//     otherwise;
//   - the accepted request, written back as JSON (numbers and booleans now as the strings they are
//     stored as), parses to the same request;
//   - each accepted event, as a stored event (EventJson), parses back with the same payloads.
//
// The input is parsed from an exact-size heap copy so ASan catches any read past its end.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "server/json_request.h"
#include "storage/event.h"
#include "storage/hash.h"
#include "storage/json_text.h"
#include "storage/names.h"

namespace {

using eventful::Code;
using eventful::Status;
using eventful::server::ParseAddRequest;
using eventful::server::RequestLimits;
using eventful::storage::AppendJsonString;
using eventful::storage::AppendRequest;
using eventful::storage::EventInput;
using eventful::storage::ExpectedVersion;
using eventful::storage::Payload;

void Check(bool ok) {
  if (!ok) std::abort();
}

Status Parse(std::string_view json, uint64_t max_events, AppendRequest* out) {
  // Exact-size copy: simdjson pads its own copy, so any overread of ours is caught by ASan.
  std::unique_ptr<char[]> copy(new char[json.size() ? json.size() : 1]);
  if (!json.empty()) std::memcpy(copy.get(), json.data(), json.size());
  RequestLimits limits;
  limits.max_events_per_add = max_events;
  return ParseAddRequest(std::string_view(copy.get(), json.size()), limits, out);
}

bool SamePayload(const Payload& a, const Payload& b) { return a == b; }

bool SameEvent(const EventInput& a, const EventInput& b) {
  return a.id == b.id && a.type == b.type && SamePayload(a.data, b.data) && SamePayload(a.metadata, b.metadata) &&
         a.causation_id == b.causation_id && a.correlation_id == b.correlation_id;
}

bool SameRequest(const AppendRequest& a, const AppendRequest& b) {
  if (a.streams.size() != b.streams.size()) return false;
  for (size_t i = 0; i < a.streams.size(); ++i) {
    const auto& x = a.streams[i];
    const auto& y = b.streams[i];
    if (x.stream != y.stream || x.expected.kind != y.expected.kind || x.events.size() != y.events.size()) return false;
    if (x.expected.kind == ExpectedVersion::Kind::kExact && x.expected.version != y.expected.version) return false;
    for (size_t k = 0; k < x.events.size(); ++k) {
      if (!SameEvent(x.events[k], y.events[k])) return false;
    }
  }
  return true;
}

void CheckPayload(const Payload& p) {
  if (p.is_string) {
    Check(p.fields.empty());
    return;
  }
  Check(p.text.empty());
  for (size_t i = 0; i < p.fields.size(); ++i) {
    Check(eventful::storage::ValidFieldName(p.fields[i].first));
    if (i > 0) Check(p.fields[i - 1].first < p.fields[i].first);  // sorted and unique
  }
}

size_t CheckInvariants(const AppendRequest& r) {
  Check(!r.streams.empty());
  size_t total = 0;
  for (size_t i = 0; i < r.streams.size(); ++i) {
    const auto& sa = r.streams[i];
    std::string why;
    Check(eventful::storage::ValidStreamName(sa.stream, &why));
    Check(!eventful::storage::IsSystemStream(sa.stream));
    Check(!sa.stream.empty() && sa.stream[0] != '$');
    for (size_t j = 0; j < i; ++j) Check(r.streams[j].stream != sa.stream);
    Check(!sa.events.empty());
    for (const auto& ev : sa.events) {
      Check(!ev.type.empty() && ev.type.size() <= 255);
      if (ev.id) Check(eventful::storage::ValidEventId(*ev.id));
      if (ev.causation_id) Check(eventful::storage::ValidEventId(*ev.causation_id));
      if (ev.correlation_id) Check(eventful::storage::ValidEventId(*ev.correlation_id));
      CheckPayload(ev.data);
      CheckPayload(ev.metadata);
      ++total;
    }
  }
  return total;
}

void AppendPayload(std::string* out, const Payload& p) {
  if (p.is_string) {
    AppendJsonString(out, p.text);
    return;
  }
  out->push_back('{');
  for (size_t i = 0; i < p.fields.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(out, p.fields[i].first);
    out->push_back(':');
    if (p.fields[i].second) {
      AppendJsonString(out, *p.fields[i].second);
    } else {
      *out += "null";
    }
  }
  out->push_back('}');
}

// The request as ADD JSON, in the multi-stream form.
std::string Encode(const AppendRequest& r) {
  std::string out = "{\"streams\":[";
  for (size_t i = 0; i < r.streams.size(); ++i) {
    const auto& sa = r.streams[i];
    if (i) out.push_back(',');
    out += "{\"stream\":";
    AppendJsonString(&out, sa.stream);
    out += ",\"version\":";
    switch (sa.expected.kind) {
      case ExpectedVersion::Kind::kAny: out += "\"any\""; break;
      case ExpectedVersion::Kind::kExists: out += "\"exists\""; break;
      case ExpectedVersion::Kind::kExact: out += std::to_string(sa.expected.version); break;
    }
    out += ",\"events\":[";
    for (size_t k = 0; k < sa.events.size(); ++k) {
      const auto& ev = sa.events[k];
      if (k) out.push_back(',');
      out += "{\"type\":";
      AppendJsonString(&out, ev.type);
      if (ev.id) out += ",\"id\":" + eventful::storage::JsonString(*ev.id);
      if (ev.causation_id) out += ",\"causation_id\":" + eventful::storage::JsonString(*ev.causation_id);
      if (ev.correlation_id) out += ",\"correlation_id\":" + eventful::storage::JsonString(*ev.correlation_id);
      out += ",\"data\":";
      AppendPayload(&out, ev.data);
      out += ",\"metadata\":";
      AppendPayload(&out, ev.metadata);
      out.push_back('}');
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

// Stores each event as the store would (EventJson) and parses it back.
void CheckStoredForm(const AppendRequest& r) {
  uint64_t position = 0;
  for (const auto& sa : r.streams) {
    uint64_t version = 0;
    for (const auto& in : sa.events) {
      eventful::storage::Event e = eventful::storage::MakeEvent(in, in.id.value_or("01JD3Y4Z5Q8X2N7M6K4H3G2F1E"), sa.stream,
                                                                ++version, ++position, "2026-11-23T10:00:00.123Z", "fuzz");
      e.hash = eventful::storage::ToHex(eventful::storage::ComputeEventHash(e));
      eventful::storage::Event back;
      std::string why;
      Check(eventful::storage::ParseEventJson(eventful::storage::EventJson(e), &back, &why));
      Check(back.id == e.id && back.stream == e.stream && back.version == e.version && back.position == e.position &&
            back.type == e.type && back.data == e.data && back.metadata == e.metadata &&
            back.causation_id == e.causation_id && back.correlation_id == e.correlation_id &&
            back.added_at == e.added_at && back.actor == e.actor && back.hash == e.hash);
      Check(eventful::storage::ComputeEventHash(back) == eventful::storage::ComputeEventHash(e));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  constexpr uint64_t kLimit = 10000;

  AppendRequest first;
  const Status s = Parse(json, kLimit, &first);

  // Deterministic, also into a reused (non-empty) output.
  AppendRequest reused;
  reused.streams.resize(2);
  reused.streams[0].stream = "stale.1";
  const Status again = Parse(json, kLimit, &reused);
  Check(again.code() == s.code() && again.message() == s.message());

  if (!s.ok()) {
    Check(s.code() == Code::kErr || s.code() == Code::kInvalid || s.code() == Code::kNoPerm ||
          s.code() == Code::kLimit);
    Check(!s.message().empty());
    return 0;
  }
  Check(SameRequest(first, reused));
  const size_t total = CheckInvariants(first);
  Check(total <= kLimit);

  // Trailing whitespace changes nothing.
  AppendRequest padded;
  Check(Parse(std::string(json) + " \n\t\r", kLimit, &padded).ok());
  Check(SameRequest(first, padded));

  // A smaller event limit: fits → same request, else LIMIT.
  constexpr uint64_t kSmall = 3;
  AppendRequest small;
  const Status small_status = Parse(json, kSmall, &small);
  if (total <= kSmall) {
    Check(small_status.ok() && SameRequest(first, small));
  } else {
    Check(small_status.code() == Code::kLimit);
  }

  // Written back as JSON, the request parses to itself.
  const std::string encoded = Encode(first);
  AppendRequest round_trip;
  const Status rs = Parse(encoded, kLimit, &round_trip);
  Check(rs.ok());
  Check(SameRequest(first, round_trip));

  CheckStoredForm(first);
  return 0;
}
