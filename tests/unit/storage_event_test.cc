// JCS string escaping, the canonical and reply encodings of an event, and the event parser.
#include <doctest/doctest.h>

#include <string>

#include "storage/event.h"
#include "storage/hash.h"
#include "storage/json_text.h"

namespace {

using eventful::storage::AppendJsonString;
using eventful::storage::AppendPayloadJson;
using eventful::storage::CanonicalJson;
using eventful::storage::ComputeEventHash;
using eventful::storage::Event;
using eventful::storage::EventJson;
using eventful::storage::JsonString;
using eventful::storage::LeafHash;
using eventful::storage::ParseEventJson;
using eventful::storage::Payload;
using eventful::storage::ToHex;

// The fixed event of the hash test. "note" holds a newline, quotes, a backslash, é (U+00E9),
// 😀 (U+1F600), U+0001 and U+007F.
Event SampleEvent() {
  Event e;
  e.id = "01JD3Y4Z5Q8X2N7M6K4H3G2F1E";
  e.stream = "patient.42";
  e.version = 3;
  e.position = 1017;
  e.type = "patient-updated";
  e.data.fields = {{"gone", std::nullopt},
                   {"note", "line\nbreak \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80 \x01\x7f"},
                   {"status", "deceased"}};
  e.causation_id = "01JD3Y4Z5Q8X2N7M6K4H3G2F1E";
  e.correlation_id = "corr-1";
  e.added_at = "2026-11-23T10:00:00.123Z";
  e.actor = "npi:1234567";
  e.hash = ToHex(ComputeEventHash(e));
  return e;
}

}  // namespace

TEST_CASE("json strings escape only quote, backslash and control characters") {
  CHECK(JsonString("") == "\"\"");
  CHECK(JsonString("plain text") == "\"plain text\"");
  CHECK(JsonString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(JsonString("\b\t\n\f\r") == "\"\\b\\t\\n\\f\\r\"");
  CHECK(JsonString(std::string("\x00\x01\x1f", 3)) == "\"\\u0000\\u0001\\u001f\"");
  CHECK(JsonString("\x0b\x1a") == "\"\\u000b\\u001a\"");  // lowercase hex
  CHECK(JsonString("\x7f") == "\"\x7f\"");
  CHECK(JsonString("/") == "\"/\"");
  CHECK(JsonString("\xc3\xa9\xf0\x9f\x98\x80") == "\"\xc3\xa9\xf0\x9f\x98\x80\"");
  std::string out = "x";
  AppendJsonString(&out, "y\n");
  CHECK(out == "x\"y\\n\"");
}

TEST_CASE("payloads are written as an object in stored order or as one string") {
  std::string out;
  Payload obj;
  obj.fields = {{"a", "1"}, {"b", std::nullopt}};
  AppendPayloadJson(&out, obj);
  CHECK(out == R"({"a":"1","b":null})");
  out.clear();
  AppendPayloadJson(&out, Payload{});
  CHECK(out == "{}");
  out.clear();
  Payload text;
  text.is_string = true;
  text.text = R"({"raw": 1})";
  AppendPayloadJson(&out, text);
  CHECK(out == R"("{\"raw\": 1}")");
}

TEST_CASE("canonical json sorts keys and escapes strings as JCS does") {
  const Event e = SampleEvent();
  CHECK(CanonicalJson(e) ==
        "{\"actor\":\"npi:1234567\",\"added_at\":\"2026-11-23T10:00:00.123Z\","
        "\"causation_id\":\"01JD3Y4Z5Q8X2N7M6K4H3G2F1E\",\"correlation_id\":\"corr-1\","
        "\"data\":{\"gone\":null,\"note\":\"line\\nbreak \\\"q\\\" \\\\ \xc3\xa9 \xf0\x9f\x98\x80 "
        "\\u0001\x7f\",\"status\":\"deceased\"},\"id\":\"01JD3Y4Z5Q8X2N7M6K4H3G2F1E\","
        "\"metadata\":{},\"stream\":\"patient.42\",\"type\":\"patient-updated\",\"version\":3}");
}

TEST_CASE("canonical json does not rely on payload fields being sorted") {
  Event e;
  e.id = "e1";
  e.stream = "s.1";
  e.version = 1;
  e.type = "t";
  e.data.is_string = true;
  e.data.text = R"(opaque {"json": 1})";
  e.metadata.fields = {{"b", "2"}, {"a", "1"}};
  e.causation_id = "e1";
  e.correlation_id = "e1";
  e.added_at = "1970-01-01T00:00:00.000Z";
  e.actor = "master";
  CHECK(CanonicalJson(e) ==
        R"({"actor":"master","added_at":"1970-01-01T00:00:00.000Z","causation_id":"e1",)"
        R"("correlation_id":"e1","data":"opaque {\"json\": 1}","id":"e1",)"
        R"("metadata":{"a":"1","b":"2"},"stream":"s.1","type":"t","version":1})");
  // python3 -c 'import hashlib,json;o={"id":"e1","stream":"s.1","version":1,"type":"t","data":"opaque {\"json\": 1}","metadata":{"b":"2","a":"1"},"causation_id":"e1","correlation_id":"e1","added_at":"1970-01-01T00:00:00.000Z","actor":"master"};c=json.dumps(o,sort_keys=True,separators=(",",":"),ensure_ascii=False);print(hashlib.sha256(b"\x00"+c.encode()).hexdigest())'
  CHECK(ToHex(ComputeEventHash(e)) ==
        "e54236c4bf23ba3b741a4a75227af283be396f1f3e14eaa1f6a522af139bd829");
}

TEST_CASE("event hash matches python's json.dumps with sort_keys") {
  const Event e = SampleEvent();
  CHECK(ComputeEventHash(e) == LeafHash(CanonicalJson(e)));
  // python3 -c 'import hashlib,json;o={"id":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E","stream":"patient.42","version":3,"type":"patient-updated","data":{"status":"deceased","note":"line\nbreak \"q\" \\ é 😀 \x01\x7f","gone":None},"metadata":{},"causation_id":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E","correlation_id":"corr-1","added_at":"2026-11-23T10:00:00.123Z","actor":"npi:1234567"};c=json.dumps(o,sort_keys=True,separators=(",",":"),ensure_ascii=False);print(hashlib.sha256(b"\x00"+c.encode()).hexdigest())'
  CHECK(e.hash == "7772a950caa275c68c530c84b190d646b1056c1781e8ba3c2cff2bb35f8c9a4e");
  // position and hash are not covered; everything else is.
  Event moved = e;
  moved.position = 1;
  moved.hash = "x";
  CHECK(ComputeEventHash(moved) == ComputeEventHash(e));
  Event edited = e;
  edited.actor = "master";
  CHECK(ComputeEventHash(edited) != ComputeEventHash(e));
  edited = e;
  edited.version = 4;
  CHECK(ComputeEventHash(edited) != ComputeEventHash(e));
}

TEST_CASE("event json has the twelve keys in contract order") {
  Event e = SampleEvent();
  e.data.fields = {{"status", "deceased"}};
  e.metadata.is_string = true;
  e.metadata.text = "m";
  e.hash = std::string(64, 'a');
  CHECK(EventJson(e) ==
        R"({"id":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E","stream":"patient.42","version":3,"position":1017,)"
        R"("type":"patient-updated","data":{"status":"deceased"},"metadata":"m",)"
        R"("causation_id":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E","correlation_id":"corr-1",)"
        R"("added_at":"2026-11-23T10:00:00.123Z","actor":"npi:1234567","hash":")" +
            std::string(64, 'a') + R"("})");
}

TEST_CASE("event json parses back to the same event") {
  const Event e = SampleEvent();
  Event back;
  std::string why;
  REQUIRE_MESSAGE(ParseEventJson(EventJson(e), &back, &why), why);
  CHECK(back.id == e.id);
  CHECK(back.stream == e.stream);
  CHECK(back.version == e.version);
  CHECK(back.position == e.position);
  CHECK(back.type == e.type);
  CHECK(back.data == e.data);
  CHECK(back.metadata == e.metadata);
  CHECK(back.causation_id == e.causation_id);
  CHECK(back.correlation_id == e.correlation_id);
  CHECK(back.added_at == e.added_at);
  CHECK(back.actor == e.actor);
  CHECK(back.hash == e.hash);
  CHECK(EventJson(back) == EventJson(e));

  Event big = e;
  big.version = UINT64_MAX;
  big.data = Payload{};
  big.data.is_string = true;
  big.data.text = "{\"a\":1}";
  REQUIRE_MESSAGE(ParseEventJson(EventJson(big), &back, &why), why);
  CHECK(back.version == UINT64_MAX);
  CHECK(back.data == big.data);
}

TEST_CASE("event parser sorts payload fields and accepts keys in any order") {
  const std::string json =
      R"({"hash":"h","actor":"a","added_at":"t","correlation_id":"c","causation_id":"c",)"
      R"("metadata":{"z":"1","a":null},"data":{},"type":"t","position":2,"version":1,)"
      R"("stream":"s","id":"i"})";
  Event e;
  std::string why;
  REQUIRE_MESSAGE(ParseEventJson(json, &e, &why), why);
  REQUIRE(e.metadata.fields.size() == 2);
  CHECK(e.metadata.fields[0].first == "a");
  CHECK_FALSE(e.metadata.fields[0].second.has_value());
  CHECK(e.metadata.fields[1] == std::pair<std::string, std::optional<std::string>>("z", "1"));
  CHECK_FALSE(e.data.is_string);
  CHECK(e.data.fields.empty());
}

TEST_CASE("event parser rejects extra, missing, duplicate and ill-typed keys") {
  const std::string good = EventJson(SampleEvent());
  Event e;
  std::string why;
  REQUIRE(ParseEventJson(good, &e, &why));

  auto replace = [&good](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    return s;
  };
  auto rejects = [&](const std::string& json, const std::string& reason) {
    Event out;
    out.id = "untouched";
    std::string w;
    CAPTURE(json);
    CHECK_FALSE(ParseEventJson(json, &out, &w));
    CHECK(w.find(reason) != std::string::npos);
    CHECK(out.id == "untouched");
  };

  rejects(replace("{\"id\"", "{\"extra\":1,\"id\""), "unexpected key 'extra'");
  rejects(replace("\"actor\":\"npi:1234567\",", ""), "missing key 'actor'");
  rejects(replace("\"actor\":", "\"actor\":\"x\",\"actor\":"), "duplicate key 'actor'");
  rejects(replace("\"version\":3", "\"version\":\"3\""), "'version'");
  rejects(replace("\"version\":3", "\"version\":-3"), "'version'");
  rejects(replace("\"version\":3", "\"version\":3.0"), "'version'");
  rejects(replace("\"position\":1017", "\"position\":null"), "'position'");
  rejects(replace("\"type\":\"patient-updated\"", "\"type\":5"), "'type'");
  rejects(replace("\"hash\":\"", "\"hash\":null,\"x\":\""), "'hash'");
  rejects(replace("\"metadata\":{}", "\"metadata\":[]"), "'metadata'");
  rejects(replace("\"metadata\":{}", "\"metadata\":7"), "'metadata'");
  rejects(replace("\"metadata\":{}", "\"metadata\":{\"a\":1}"), "'metadata'");
  rejects(replace("\"metadata\":{}", "\"metadata\":{\"a\":{}}"), "'metadata'");
  rejects(replace("\"metadata\":{}", "\"metadata\":{\"a\":\"1\",\"a\":\"2\"}"), "duplicate");
  rejects(replace("\"gone\":null", "\"gone\":true"), "'data'");
  rejects("[]", "not an object");
  rejects("", "not valid JSON");
  rejects(good.substr(0, good.size() - 1), "not valid JSON");
  rejects(good + "x", "not valid JSON");
}
