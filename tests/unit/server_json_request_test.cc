// Parsing of the commands' JSON arguments (server/json_request.h) against PROTOCOL.md §6 and §8:
// the error code of every rejected ADD (ERR for shape and types, INVALID for content rules,
// NOPERM for system streams, LIMIT for sizes), how payload values are stored, and the GET,
// GETALL, EVENT:GET, AGGREGATE:LIST and VERIFY arguments.
#include <doctest/doctest.h>

#include <string>
#include <variant>
#include <vector>

#include "server/json_request.h"

namespace {

using eventful::Code;
using eventful::Status;
using eventful::server::EventGetRequest;
using eventful::server::GetAllRequest;
using eventful::server::ListRequest;
using eventful::server::ParseAddRequest;
using eventful::server::ParseEventGetRequest;
using eventful::server::ParseGetAllRequest;
using eventful::server::ParseGetRequest;
using eventful::server::ParseListRequest;
using eventful::server::ConsistencyRequest;
using eventful::server::ParseConsistencyRequest;
using eventful::server::ParseProofRequest;
using eventful::server::ParseStreamOrLogRequest;
using eventful::server::ProofRequest;
using eventful::server::RequestLimits;
using eventful::storage::AppendRequest;
using eventful::storage::ExpectedVersion;
using eventful::storage::Payload;
using eventful::storage::ReadRequest;

using Fields = std::vector<std::pair<std::string, std::optional<std::string>>>;

Status Add(std::string_view json, AppendRequest* out = nullptr, RequestLimits limits = {}) {
  AppendRequest ignored;
  return ParseAddRequest(json, limits, out ? out : &ignored);
}

Code AddCode(std::string_view json, RequestLimits limits = {}) { return Add(json, nullptr, limits).code(); }

AppendRequest AddOk(std::string_view json) {
  AppendRequest r;
  Status s = Add(json, &r);
  REQUIRE_MESSAGE(s.ok(), json << " -> " << s.ToWire());
  return r;
}

// `{"stream":"s.1","events":[<event>]}`
std::string One(std::string_view event) { return R"({"stream":"s.1","events":[)" + std::string(event) + "]}"; }

// The data of a single-event ADD whose data object is `data`.
Payload DataOf(std::string_view data) {
  AppendRequest r = AddOk(One(R"({"type":"t","data":)" + std::string(data) + "}"));
  REQUIRE(r.streams.size() == 1);
  REQUIRE(r.streams[0].events.size() == 1);
  return r.streams[0].events[0].data;
}

std::string Repeat(char c, size_t n) { return std::string(n, c); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// ADD: accepted shapes

TEST_CASE("add parses the single-stream form with every event key") {
  const AppendRequest r = AddOk(R"({"stream":"patient.42","version":2,"events":[
      {"id":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E","type":"patient-updated","data":{"status":"deceased"},
       "metadata":{"source":"ward-3"},"causation_id":"cause-1","correlation_id":"corr_1"},
      {"type":"noted"}]})");
  REQUIRE(r.streams.size() == 1);
  const auto& sa = r.streams[0];
  CHECK(sa.stream == "patient.42");
  CHECK(sa.expected.kind == ExpectedVersion::Kind::kExact);
  CHECK(sa.expected.version == 2);
  REQUIRE(sa.events.size() == 2);
  const auto& e = sa.events[0];
  CHECK(e.id == "01JD3Y4Z5Q8X2N7M6K4H3G2F1E");
  CHECK(e.type == "patient-updated");
  CHECK_FALSE(e.data.is_string);
  CHECK(e.data.fields == Fields{{"status", "deceased"}});
  CHECK(e.metadata.fields == Fields{{"source", "ward-3"}});
  CHECK(e.causation_id == "cause-1");
  CHECK(e.correlation_id == "corr_1");
  const auto& bare = sa.events[1];
  CHECK(bare.type == "noted");
  CHECK_FALSE(bare.id.has_value());
  CHECK_FALSE(bare.causation_id.has_value());
  CHECK_FALSE(bare.correlation_id.has_value());
  // Omitted data / metadata are the empty object.
  CHECK_FALSE(bare.data.is_string);
  CHECK(bare.data.fields.empty());
  CHECK_FALSE(bare.metadata.is_string);
  CHECK(bare.metadata.fields.empty());
}

TEST_CASE("add accepts the expected-version forms any, exists and an integer") {
  auto expected = [](std::string_view version) {
    AppendRequest r = AddOk(R"({"stream":"s.1","version":)" + std::string(version) + R"(,"events":[{"type":"t"}]})");
    return r.streams[0].expected;
  };
  CHECK(AddOk(One(R"({"type":"t"})")).streams[0].expected.kind == ExpectedVersion::Kind::kAny);  // default
  CHECK(expected(R"("any")").kind == ExpectedVersion::Kind::kAny);
  CHECK(expected(R"("exists")").kind == ExpectedVersion::Kind::kExists);
  CHECK(expected("0").kind == ExpectedVersion::Kind::kExact);
  CHECK(expected("0").version == 0);
  CHECK(expected("17").version == 17);
  CHECK(expected("18446744073709551615").version == 18446744073709551615ull);

  for (const char* bad : {"-1", "1.5", R"("5")", R"("ANY")", "null", "true", "[]", "{}", "18446744073709551616"}) {
    CHECK_MESSAGE(AddCode(R"({"stream":"s.1","version":)" + std::string(bad) + R"(,"events":[{"type":"t"}]})") ==
                      Code::kErr,
                  bad);
  }
}

TEST_CASE("add keeps the raw JSON text of numbers and stores booleans and null as the contract says") {
  const Payload p = DataOf(R"({"price":4.50,"count":42,"neg":-7,"exp":1E+2,"small":-3.25e-2,"zero":-0,
                               "yes":true,"no":false,"gone":null,"text":"4.50"})");
  CHECK_FALSE(p.is_string);
  CHECK(p.fields == Fields{{"count", "42"},
                           {"exp", "1E+2"},
                           {"gone", std::nullopt},
                           {"neg", "-7"},
                           {"no", "false"},
                           {"price", "4.50"},
                           {"small", "-3.25e-2"},
                           {"text", "4.50"},
                           {"yes", "true"},
                           {"zero", "-0"}});
}

TEST_CASE("add trims the whitespace around a number, whatever follows it") {
  CHECK(DataOf("{\"a\":42 }").fields == Fields{{"a", "42"}});
  CHECK(DataOf("{\"a\":42\n,\"b\":7\t}").fields == Fields{{"a", "42"}, {"b", "7"}});
  CHECK(DataOf("{\"a\" : \r\n 4.50 \r\n}").fields == Fields{{"a", "4.50"}});
}

TEST_CASE("add keeps numbers too large for any machine type as their text") {
  CHECK(DataOf(R"({"big":123456789012345678901234567890})").fields == Fields{{"big", "123456789012345678901234567890"}});
  CHECK(DataOf(R"({"precise":0.10000000000000000000001})").fields == Fields{{"precise", "0.10000000000000000000001"}});
}

TEST_CASE("add sorts payload fields bytewise") {
  const Payload p = DataOf(R"({"b":"1","a":"2","B":"3","_":"4","a.b":"5","a-b":"6","9":"7",":":"8"})");
  std::vector<std::string> keys;
  for (const auto& [k, v] : p.fields) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"9", ":", "B", "_", "a", "a-b", "a.b", "b"});
  CHECK(p.fields[0].second == "7");
  CHECK(p.fields[7].second == "1");
}

TEST_CASE("add unescapes string values") {
  CHECK(DataOf(R"({"s":"q\"b\\s\/n\nu\u00e9\ud83d\ude00"})").fields ==
        Fields{{"s", "q\"b\\s/n\nu\xc3\xa9\xf0\x9f\x98\x80"}});
}

TEST_CASE("add accepts a string payload for data and metadata") {
  const AppendRequest r = AddOk(One(R"({"type":"t","data":"{\"raw\":[1,2]}","metadata":"m"})"));
  const auto& e = r.streams[0].events[0];
  CHECK(e.data.is_string);
  CHECK(e.data.text == R"({"raw":[1,2]})");
  CHECK(e.data.fields.empty());
  CHECK(e.metadata.is_string);
  CHECK(e.metadata.text == "m");
  CHECK(AddOk(One(R"({"type":"t","data":""})")).streams[0].events[0].data.is_string);
}

TEST_CASE("add parses the multi-stream form in request order") {
  const AppendRequest r = AddOk(R"({"streams":[
      {"stream":"a.1","version":0,"events":[{"type":"x"},{"type":"y"}]},
      {"stream":"b.7","events":[{"type":"z","id":"ev-z"}]},
      {"stream":"c.2","version":"exists","events":[{"type":"w"}]}]})");
  REQUIRE(r.streams.size() == 3);
  CHECK(r.streams[0].stream == "a.1");
  CHECK(r.streams[0].expected.kind == ExpectedVersion::Kind::kExact);
  CHECK(r.streams[0].expected.version == 0);
  REQUIRE(r.streams[0].events.size() == 2);
  CHECK(r.streams[0].events[0].type == "x");
  CHECK(r.streams[0].events[1].type == "y");
  CHECK(r.streams[1].stream == "b.7");
  CHECK(r.streams[1].expected.kind == ExpectedVersion::Kind::kAny);
  CHECK(r.streams[1].events[0].id == "ev-z");
  CHECK(r.streams[2].expected.kind == ExpectedVersion::Kind::kExists);
}

TEST_CASE("add accepts names at their length limits") {
  CHECK(Add(R"({"stream":")" + Repeat('s', 255) + R"(","events":[{"type":"t"}]})").ok());
  CHECK(Add(One(R"({"type":")" + Repeat('t', 255) + R"("})")).ok());
  CHECK(Add(One(R"({"type":"t","id":")" + Repeat('i', 64) + R"("})")).ok());
  CHECK(Add(One(R"({"type":"t","data":{")" + Repeat('f', 128) + R"(":"v"}})")).ok());
  CHECK(Add(R"({"stream":"order.2026.0017","events":[{"type":"t"}]})").ok());
  CHECK(Add(R"({"stream":"123e4567-e89b-12d3-a456-426614174000","events":[{"type":"t"}]})").ok());
  CHECK(Add(R"({"stream":"a_b-c:d@e+f=g~h!i.J9","events":[{"type":"t"}]})").ok());
}

TEST_CASE("add reuses the output request: a second parse replaces the first") {
  AppendRequest r;
  REQUIRE(Add(R"({"stream":"a.1","events":[{"type":"t"}]})", &r).ok());
  REQUIRE(Add(R"({"stream":"b.1","events":[{"type":"u"}]})", &r).ok());
  REQUIRE(r.streams.size() == 1);
  CHECK(r.streams[0].stream == "b.1");
}

// ---------------------------------------------------------------------------------------------
// ADD: rejections, each with its §8 code

TEST_CASE("add answers ERR when the argument is not one JSON object") {
  for (const char* bad : {"", "not json", "{", R"({"stream":"s.1")", "[]", R"(["stream"])", R"("s.1")", "42", "null",
                          "true", R"({"stream":"s.1","events":[{"type":"t"}]} trailing)",
                          R"({"stream":"s.1","events":[{"type":"t"}]}{})", R"({"stream":"s.1",,"events":[]})"}) {
    CHECK_MESSAGE(AddCode(bad) == Code::kErr, bad);
  }
}

TEST_CASE("add answers ERR for a missing key or a key of the wrong JSON type") {
  const std::vector<std::string> cases = {
      R"({"events":[{"type":"t"}]})",                          // no stream
      R"({"stream":"s.1"})",                                   // no events
      R"({"stream":"s.1","version":1})",                       // no events
      One(R"({"data":{"a":"1"}})"),                            // no type
      One(R"({"type":5})"),                                    // type not a string
      One(R"({"type":null})"),
      R"({"stream":"s.1","events":{}})",                       // events not an array
      R"({"stream":"s.1","events":"t"})",
      R"({"stream":"s.1","events":[5]})",                      // an event not an object
      R"({"stream":"s.1","events":[{"type":"t"},[]]})",
      R"({"stream":5,"events":[{"type":"t"}]})",               // stream not a string
      One(R"({"type":"t","data":7})"),                         // data neither object nor string
      One(R"({"type":"t","data":[]})"),
      One(R"({"type":"t","data":["a"]})"),
      One(R"({"type":"t","data":true})"),
      One(R"({"type":"t","metadata":7})"),
      One(R"({"type":"t","metadata":[1]})"),
      One(R"({"type":"t","id":5})"),                           // ids not strings
      One(R"({"type":"t","causation_id":true})"),
      One(R"({"type":"t","correlation_id":{}})"),
      R"({"streams":{}})",                                     // streams not an array
      R"({"streams":[5]})",
      R"({"streams":[{"events":[{"type":"t"}]}]})",            // element without stream
      R"({"streams":[{"stream":"a.1"}]})",                     // element without events
  };
  for (const auto& json : cases) CHECK_MESSAGE(AddCode(json) == Code::kErr, json);
}

TEST_CASE("add answers ERR for unknown keys, duplicate keys and mixed forms") {
  const std::vector<std::string> cases = {
      R"({"stream":"s.1","events":[{"type":"t"}],"extra":1})",
      One(R"({"type":"t","position":3})"),
      R"({"streams":[{"stream":"a.1","events":[{"type":"t"}],"bogus":true}]})",
      R"({"stream":"s.1","stream":"s.2","events":[{"type":"t"}]})",
      One(R"({"type":"t","type":"u"})"),
      R"({"stream":"s.1","events":[{"type":"t"}],"streams":[{"stream":"a.1","events":[{"type":"t"}]}]})",
      R"({"streams":[{"stream":"a.1","events":[{"type":"t"}]}],"version":3})",
  };
  for (const auto& json : cases) CHECK_MESSAGE(AddCode(json) == Code::kErr, json);
}

TEST_CASE("add answers ERR for malformed numbers in a payload") {
  for (const char* bad : {"01", "1.", ".5", "-", "+1", "1e", "0x10", "NaN", "Infinity", "1.2.3"}) {
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","data":{"n":)" + std::string(bad) + "}}")) == Code::kErr, bad);
  }
}

TEST_CASE("add answers ERR for a malformed argument even when an earlier part breaks a content rule") {
  // PROTOCOL.md §8: INVALID / NOPERM / LIMIT are for well-formed arguments; anything that is not
  // JSON is ERR, wherever the syntax error sits.
  RequestLimits limits;
  limits.max_events_per_add = 2;
  const std::vector<std::string> cases = {
      R"({"stream":"s.1","events":[{"type":"t","id":"bad id"}], "x": })",             // INVALID first
      R"({"stream":"s.1","events":[{"type":"t","data":{"a":[]}}], "x": })",           // INVALID first
      R"({"stream":"s.1","events":[{"type":""}]]]]})",                                // INVALID first
      R"({"streams":[{"stream":"$audit","events":[{"type":"t"}]}], "x": })",          // NOPERM first
      R"({"stream":"s.1","events":[{"type":"t"},{"type":"t"},{"type":"t"}], "x": })",  // LIMIT first
  };
  for (const auto& json : cases) {
    const Status s = Add(json, nullptr, limits);
    CHECK_MESSAGE(s.code() == Code::kErr, json << " -> " << s.ToWire());
  }
  GetAllRequest r;
  const Status s = ParseGetAllRequest(R"({"filter":{"streams":["a..b"]}, "x": })", &r);
  CHECK_MESSAGE(s.code() == Code::kErr, s.ToWire());
}

TEST_CASE("add answers ERR for malformed literals in a payload, without throwing") {
  // Found by add_request_fuzz: a token that starts like null but is not null made the parser
  // throw simdjson_error (which terminates the server) instead of returning ERR.
  for (const char* bad : {"nul", "nulx", "nullx", "n", "tru", "truex", "fals", "f"}) {
    const std::string json = One(R"({"type":"t","data":{"a":)" + std::string(bad) + "}}");
    Status s;
    CHECK_NOTHROW(s = Add(json));
    CHECK_MESSAGE(s.code() == Code::kErr, json << " -> " << s.ToWire());
  }
}

TEST_CASE("add rejects a duplicate field name inside data") {
  // The stored payload has unique keys; the repeat is rejected, not silently merged.
  const Status s = Add(One(R"({"type":"t","data":{"a":"1","a":"2"}})"));
  CHECK_FALSE(s.ok());
  CHECK((s.code() == Code::kErr || s.code() == Code::kInvalid));
}

TEST_CASE("add answers INVALID for a bad stream name") {
  for (const std::string& name : {std::string(""), std::string("a..b"), std::string(".a"), std::string("a."),
                                  std::string("a b"), std::string("a/b"), std::string("caf\xc3\xa9"),
                                  std::string("a.*"), std::string("a.>"), Repeat('s', 256)}) {
    CHECK_MESSAGE(AddCode(R"({"stream":")" + name + R"(","events":[{"type":"t"}]})") == Code::kInvalid, name);
    CHECK_MESSAGE(AddCode(R"({"streams":[{"stream":")" + name + R"(","events":[{"type":"t"}]}]})") == Code::kInvalid,
                  name);
  }
}

TEST_CASE("add answers INVALID for bad event id syntax") {
  for (const std::string& id : {std::string(""), std::string("has space"), std::string("a.b"), std::string("a:b"),
                                std::string("caf\xc3\xa9"), Repeat('i', 65)}) {
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","id":")" + id + R"("})")) == Code::kInvalid, id);
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","causation_id":")" + id + R"("})")) == Code::kInvalid, id);
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","correlation_id":")" + id + R"("})")) == Code::kInvalid, id);
  }
}

TEST_CASE("add answers INVALID for a bad field name in data or metadata") {
  for (const std::string& field : {std::string(""), std::string("has space"), std::string("a/b"),
                                   std::string("caf\xc3\xa9"), std::string("$x"), Repeat('f', 129)}) {
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","data":{")" + field + R"(":"v"}})")) == Code::kInvalid, field);
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","metadata":{")" + field + R"(":"v"}})")) == Code::kInvalid, field);
  }
}

TEST_CASE("add answers INVALID for an empty events list, or an empty or overlong type") {
  CHECK(AddCode(R"({"stream":"s.1","events":[]})") == Code::kInvalid);
  CHECK(AddCode(R"({"streams":[{"stream":"a.1","events":[]}]})") == Code::kInvalid);
  CHECK(AddCode(R"({"streams":[{"stream":"a.1","events":[{"type":"t"}]},{"stream":"b.1","events":[]}]})") ==
        Code::kInvalid);
  CHECK(AddCode(One(R"({"type":""})")) == Code::kInvalid);
  CHECK(AddCode(One(R"({"type":")" + Repeat('t', 256) + R"("})")) == Code::kInvalid);
  // The limit is in bytes of the unescaped type: 128 x U+00E9 is 256 bytes.
  std::string e_acute;
  for (int i = 0; i < 128; ++i) e_acute += "\u00e9";
  CHECK(AddCode(One(R"({"type":")" + e_acute + R"("})")) == Code::kInvalid);
  CHECK(Add(One(R"({"type":")" + e_acute.substr(6) + R"("})")).ok());  // 254 bytes
}

TEST_CASE("add answers INVALID for a nested value in data or metadata") {
  for (const char* nested : {R"({"a":{}})", R"({"a":{"b":"c"}})", R"({"a":[]})", R"({"a":["x"]})",
                             R"({"ok":"1","a":[1,2]})"}) {
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","data":)" + std::string(nested) + "}")) == Code::kInvalid, nested);
    CHECK_MESSAGE(AddCode(One(R"({"type":"t","metadata":)" + std::string(nested) + "}")) == Code::kInvalid, nested);
  }
}

TEST_CASE("add answers INVALID for an empty streams list or a stream named twice") {
  CHECK(AddCode(R"({"streams":[]})") == Code::kInvalid);
  const Status s = Add(R"({"streams":[{"stream":"a.1","events":[{"type":"t"}]},
                                      {"stream":"b.1","events":[{"type":"t"}]},
                                      {"stream":"a.1","events":[{"type":"u"}]}]})");
  CHECK(s.code() == Code::kInvalid);
  CHECK(s.message().find("a.1") != std::string::npos);
}

TEST_CASE("add answers NOPERM for a system stream") {
  CHECK(AddCode(R"({"stream":"$audit","events":[{"type":"t"}]})") == Code::kNoPerm);
  CHECK(AddCode(R"({"stream":"$audit.x","events":[{"type":"t"}]})") == Code::kNoPerm);
  CHECK(AddCode(R"({"streams":[{"stream":"a.1","events":[{"type":"t"}]},{"stream":"$audit","events":[{"type":"t"}]}]})") ==
        Code::kNoPerm);
}

TEST_CASE("add answers LIMIT for more events than the per-ADD limit, counted over all streams") {
  RequestLimits limits;
  limits.max_events_per_add = 3;
  CHECK(Add(R"({"stream":"s.1","events":[{"type":"t"},{"type":"t"},{"type":"t"}]})", nullptr, limits).ok());
  CHECK(AddCode(R"({"stream":"s.1","events":[{"type":"t"},{"type":"t"},{"type":"t"},{"type":"t"}]})", limits) ==
        Code::kLimit);
  CHECK(Add(R"({"streams":[{"stream":"a.1","events":[{"type":"t"},{"type":"t"}]},{"stream":"b.1","events":[{"type":"t"}]}]})",
            nullptr, limits)
            .ok());
  CHECK(AddCode(R"({"streams":[{"stream":"a.1","events":[{"type":"t"},{"type":"t"}]},{"stream":"b.1","events":[{"type":"t"},{"type":"t"}]}]})",
                limits) == Code::kLimit);

  // The contract's default: 10,000 events per ADD.
  std::string json = R"({"stream":"s.1","events":[{"type":"t"})";
  for (int i = 1; i < 10000; ++i) json += R"(,{"type":"t"})";
  CHECK(Add(json + "]}").ok());
  CHECK(AddCode(json + R"(,{"type":"t"}]})") == Code::kLimit);
}

// ---------------------------------------------------------------------------------------------
// GET

TEST_CASE("get parses stream, version, limit and direction with their defaults") {
  ReadRequest r;
  REQUIRE(ParseGetRequest(R"({"stream":"patient.42"})", &r).ok());
  CHECK(r.stream == "patient.42");
  CHECK_FALSE(r.version.has_value());
  CHECK(r.limit == 1000);
  CHECK_FALSE(r.backward);

  REQUIRE(ParseGetRequest(R"({"stream":"patient.42","version":3,"limit":50,"direction":"backward"})", &r).ok());
  CHECK(r.version == 3u);
  CHECK(r.limit == 50);
  CHECK(r.backward);

  REQUIRE(ParseGetRequest(R"({"direction":"forward","version":0,"stream":"a.1"})", &r).ok());
  CHECK(r.version == 0u);
  CHECK_FALSE(r.backward);

  // A reused request does not keep values from the previous parse.
  REQUIRE(ParseGetRequest(R"({"stream":"a.1"})", &r).ok());
  CHECK_FALSE(r.version.has_value());
  CHECK(r.limit == 1000);
  CHECK_FALSE(r.backward);
}

TEST_CASE("get limit: 0 means the default, negative and over 10000 are ERR") {
  ReadRequest r;
  REQUIRE(ParseGetRequest(R"({"stream":"a.1","limit":0})", &r).ok());
  CHECK(r.limit == 1000);
  REQUIRE(ParseGetRequest(R"({"stream":"a.1","limit":10000})", &r).ok());
  CHECK(r.limit == 10000);
  REQUIRE(ParseGetRequest(R"({"stream":"a.1","limit":1})", &r).ok());
  CHECK(r.limit == 1);
  for (const char* bad : {"-1", "10001", "1.5", R"("10")", "null", "true", "99999999999999999999"}) {
    CHECK_MESSAGE(ParseGetRequest(R"({"stream":"a.1","limit":)" + std::string(bad) + "}", &r).code() == Code::kErr, bad);
  }
}

TEST_CASE("get rejects bad arguments with ERR, and a bad stream name with INVALID") {
  ReadRequest r;
  for (const char* bad : {"", "[]", "{}", R"({"version":1})", R"({"stream":5})", R"({"stream":"a.1","version":-1})",
                          R"({"stream":"a.1","version":"1"})", R"({"stream":"a.1","version":1.5})",
                          R"({"stream":"a.1","direction":"sideways"})", R"({"stream":"a.1","direction":1})",
                          R"({"stream":"a.1","bogus":1})"}) {
    CHECK_MESSAGE(ParseGetRequest(bad, &r).code() == Code::kErr, bad);
  }
  CHECK(ParseGetRequest(R"({"stream":"a..b"})", &r).code() == Code::kInvalid);
  CHECK(ParseGetRequest(R"({"stream":""})", &r).code() == Code::kInvalid);
}

// ---------------------------------------------------------------------------------------------
// GETALL

TEST_CASE("getall defaults: no argument or an empty object") {
  for (const char* json : {"", "{}"}) {
    GetAllRequest r;
    r.limit = 5;
    r.offset = std::string("stale");
    REQUIRE_MESSAGE(ParseGetAllRequest(json, &r).ok(), json);
    REQUIRE(std::holds_alternative<uint64_t>(r.offset));
    CHECK(std::get<uint64_t>(r.offset) == 0);
    CHECK(r.limit == 100);
    CHECK(r.filter.streams.empty());
    CHECK(r.filter.types.empty());
    CHECK_FALSE(r.filter.since_ms.has_value());
    CHECK_FALSE(r.filter.until_ms.has_value());
  }
}

TEST_CASE("getall offset: a number is a position, a string is an event id") {
  GetAllRequest r;
  REQUIRE(ParseGetAllRequest(R"({"offset":1017})", &r).ok());
  REQUIRE(std::holds_alternative<uint64_t>(r.offset));
  CHECK(std::get<uint64_t>(r.offset) == 1017);
  REQUIRE(ParseGetAllRequest(R"({"offset":"01JD3Y4Z5Q8X2N7M6K4H3G2F1E"})", &r).ok());
  REQUIRE(std::holds_alternative<std::string>(r.offset));
  CHECK(std::get<std::string>(r.offset) == "01JD3Y4Z5Q8X2N7M6K4H3G2F1E");
  REQUIRE(ParseGetAllRequest(R"({"offset":"17"})", &r).ok());
  CHECK(std::holds_alternative<std::string>(r.offset));  // a string is an id even if it looks numeric
  for (const char* bad : {"-1", "1.5", "true", "null", "[]", "{}"}) {
    CHECK_MESSAGE(ParseGetAllRequest(R"({"offset":)" + std::string(bad) + "}", &r).code() == Code::kErr, bad);
  }
}

TEST_CASE("getall limit: 0 means the default, negative and over 10000 are ERR") {
  GetAllRequest r;
  REQUIRE(ParseGetAllRequest(R"({"limit":0})", &r).ok());
  CHECK(r.limit == 100);
  REQUIRE(ParseGetAllRequest(R"({"limit":10000})", &r).ok());
  CHECK(r.limit == 10000);
  REQUIRE(ParseGetAllRequest(R"({"limit":7})", &r).ok());
  CHECK(r.limit == 7);
  CHECK(ParseGetAllRequest(R"({"limit":-1})", &r).code() == Code::kErr);
  CHECK(ParseGetAllRequest(R"({"limit":10001})", &r).code() == Code::kErr);
  CHECK(ParseGetAllRequest(R"({"limit":"5"})", &r).code() == Code::kErr);
}

TEST_CASE("getall filter: stream patterns, types and RFC 3339 bounds") {
  GetAllRequest r;
  REQUIRE(ParseGetAllRequest(R"({"offset":3,"limit":10,"filter":{"streams":["patient.*","order.>","$audit"],
        "types":["patient-updated","x"],"since":"2026-11-23T10:00:00.123Z","until":"2026-11-23T10:00:00.5+02:00"}})",
                             &r)
              .ok());
  REQUIRE(r.filter.streams.size() == 3);
  CHECK(r.filter.streams[0].text() == "patient.*");
  CHECK(r.filter.streams[0].Matches("patient.42"));
  CHECK_FALSE(r.filter.streams[0].Matches("patient.42.x"));
  CHECK(r.filter.streams[1].Matches("order.1.2"));
  CHECK(r.filter.streams[2].Matches("$audit"));
  CHECK(r.filter.types == std::vector<std::string>{"patient-updated", "x"});
  CHECK(r.filter.since_ms == 1795428000123);
  CHECK(r.filter.until_ms == 1795420800500);  // 08:00:00.500Z

  REQUIRE(ParseGetAllRequest(R"({"filter":{"since":"2026-11-23T10:00:00Z"}})", &r).ok());
  CHECK(r.filter.since_ms == 1795428000000);
  CHECK_FALSE(r.filter.until_ms.has_value());
  REQUIRE(ParseGetAllRequest(R"({"filter":{}})", &r).ok());
  CHECK(r.filter.streams.empty());
  CHECK_FALSE(r.filter.since_ms.has_value());
}

TEST_CASE("getall filter rejects bad shapes with ERR and bad patterns with INVALID") {
  GetAllRequest r;
  for (const char* bad : {R"({"filter":[]})", R"({"filter":"patient.*"})", R"({"filter":{"streams":"patient.*"}})",
                          R"({"filter":{"streams":[5]}})", R"({"filter":{"types":"t"}})", R"({"filter":{"types":[null]}})",
                          R"({"filter":{"since":"yesterday"}})", R"({"filter":{"since":1795428000123}})",
                          R"({"filter":{"until":"2026-02-30T00:00:00Z"}})", R"({"filter":{"until":"2026-11-23"}})",
                          R"({"filter":{"bogus":1}})", R"({"bogus":1})", "[]", "nope"}) {
    CHECK_MESSAGE(ParseGetAllRequest(bad, &r).code() == Code::kErr, bad);
  }
  for (const char* bad : {R"({"filter":{"streams":["a..b"]}})", R"({"filter":{"streams":["a.>.b"]}})",
                          R"({"filter":{"streams":[""]}})"}) {
    CHECK_MESSAGE(ParseGetAllRequest(bad, &r).code() == Code::kInvalid, bad);
  }
}

// ---------------------------------------------------------------------------------------------
// EVENT:GET, AGGREGATE:LIST, VERIFY

TEST_CASE("event:get takes exactly one of hash or id") {
  EventGetRequest r;
  REQUIRE(ParseEventGetRequest(R"({"id":"ev-1"})", &r).ok());
  CHECK_FALSE(r.by_hash);
  CHECK(r.key == "ev-1");
  const std::string hash(64, 'a');
  REQUIRE(ParseEventGetRequest(R"({"hash":")" + hash + R"("})", &r).ok());
  CHECK(r.by_hash);
  CHECK(r.key == hash);
  for (const char* bad : {"", "{}", "[]", R"({"id":5})", R"({"hash":null})", R"({"id":"a","hash":"b"})",
                          R"({"hash":"b","id":"a"})", R"({"stream":"a.1"})", R"({"id":"a","extra":1})"}) {
    CHECK_MESSAGE(ParseEventGetRequest(bad, &r).code() == Code::kErr, bad);
  }
}

TEST_CASE("aggregate:list parses pattern, after and limit") {
  ListRequest r;
  REQUIRE(ParseListRequest("", &r).ok());
  CHECK_FALSE(r.pattern.has_value());
  CHECK(r.after.empty());
  CHECK(r.limit == 100);
  REQUIRE(ParseListRequest(R"({"pattern":"patient.*","after":"patient.41","limit":5})", &r).ok());
  REQUIRE(r.pattern.has_value());
  CHECK(r.pattern->Matches("patient.42"));
  CHECK(r.after == "patient.41");
  CHECK(r.limit == 5);
  REQUIRE(ParseListRequest(R"({"limit":0})", &r).ok());
  CHECK(r.limit == 100);
  CHECK_FALSE(r.pattern.has_value());  // nothing kept from the previous parse
  REQUIRE(ParseListRequest(R"({"limit":10000})", &r).ok());
  CHECK(r.limit == 10000);
  for (const char* bad : {R"({"limit":-1})", R"({"limit":10001})", R"({"limit":"1"})", R"({"pattern":5})",
                          R"({"after":5})", R"({"bogus":1})", "[]", "x"}) {
    CHECK_MESSAGE(ParseListRequest(bad, &r).code() == Code::kErr, bad);
  }
  CHECK(ParseListRequest(R"({"pattern":"a..b"})", &r).code() == Code::kInvalid);
}

TEST_CASE("verify and treehead take an optional stream") {
  std::optional<std::string> stream = "stale";
  REQUIRE(ParseStreamOrLogRequest("", &stream).ok());
  CHECK_FALSE(stream.has_value());
  stream = "stale";
  REQUIRE(ParseStreamOrLogRequest("{}", &stream).ok());
  CHECK_FALSE(stream.has_value());
  REQUIRE(ParseStreamOrLogRequest(R"({"stream":"patient.42"})", &stream).ok());
  CHECK(stream == "patient.42");
  REQUIRE(ParseStreamOrLogRequest(R"({"stream":"$audit"})", &stream).ok());
  CHECK(stream == "$audit");
  for (const char* bad : {R"({"stream":5})", R"({"stream":null})", R"({"bogus":1})", "[]", "x"}) {
    CHECK_MESSAGE(ParseStreamOrLogRequest(bad, &stream).code() == Code::kErr, bad);
  }
  CHECK(ParseStreamOrLogRequest(R"({"stream":"a..b"})", &stream).code() == Code::kInvalid);
}

TEST_CASE("proof takes a stream and version, or a position, with an optional tree size") {
  ProofRequest r;
  REQUIRE(ParseProofRequest(R"({"stream":"s.1","version":3})", &r).ok());
  CHECK(r.stream == "s.1");
  CHECK(r.leaf == 3);
  CHECK_FALSE(r.tree_size.has_value());
  REQUIRE(ParseProofRequest(R"({"position":1017,"tree_size":2000})", &r).ok());
  CHECK_FALSE(r.stream.has_value());
  CHECK(r.leaf == 1017);
  CHECK(r.tree_size == 2000u);
  // Zero is well-formed here; the store answers ERR for it as out of range.
  REQUIRE(ParseProofRequest(R"({"position":0})", &r).ok());
  for (const char* bad : {R"({})", R"({"stream":"s"})", R"({"version":1})", R"({"stream":"s","version":1,"position":1})",
                          R"({"stream":"s","version":-1})", R"({"stream":"s","version":"1"})", R"({"position":1.5})",
                          R"({"position":1,"tree_size":null})", R"({"position":1,"bogus":1})", "[]", "x"}) {
    CHECK_MESSAGE(ParseProofRequest(bad, &r).code() == Code::kErr, bad);
  }
  CHECK(ParseProofRequest(R"({"stream":"a..b","version":1})", &r).code() == Code::kInvalid);
}

TEST_CASE("consistency takes from, an optional to and an optional stream") {
  ConsistencyRequest r;
  REQUIRE(ParseConsistencyRequest(R"({"from":3})", &r).ok());
  CHECK(r.from == 3);
  CHECK_FALSE(r.to.has_value());
  CHECK_FALSE(r.stream.has_value());
  REQUIRE(ParseConsistencyRequest(R"({"stream":"s","from":3,"to":8})", &r).ok());
  CHECK(r.stream == "s");
  CHECK(r.to == 8u);
  for (const char* bad : {R"({})", R"({"to":3})", R"({"from":-1})", R"({"from":"3"})", R"({"from":1,"to":true})",
                          R"({"from":1,"x":1})", "[]", "x"}) {
    CHECK_MESSAGE(ParseConsistencyRequest(bad, &r).code() == Code::kErr, bad);
  }
}
