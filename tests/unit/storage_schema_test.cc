// Schemas (storage/schema.h): parsing the SCHEMA:* arguments, applying staged changes, the stored
// encodings, and the ADD validation rules of docs/protocol.md.
#include <doctest/doctest.h>

#include "storage/schema.h"

namespace {

using eventful::Code;
using eventful::Status;
using namespace eventful::storage;

SchemaChange Change(std::string_view command, std::string_view json) {
  SchemaChange c;
  Status s = ParseSchemaChange(command, json, &c);
  REQUIRE_MESSAGE(s.ok(), s.ToWire());
  return c;
}

Code ParseCode(std::string_view command, std::string_view json) {
  SchemaChange c;
  return ParseSchemaChange(command, json, &c).code();
}

const char* kPatient =
    R"({"aggregate":"patient","events":{"patient-created":{"fields":["name","birthdate","name"]},)"
    R"("patient-updated":{"fields":["status"]}},"snapshot_threshold":25})";

StreamAppend Add(std::string stream, std::string type, std::vector<std::pair<std::string, std::optional<std::string>>> data) {
  StreamAppend sa;
  sa.stream = std::move(stream);
  EventInput e;
  e.type = std::move(type);
  e.data.fields = std::move(data);
  sa.events.push_back(std::move(e));
  return sa;
}

}  // namespace

TEST_CASE("a schema document parses with sorted, unique fields and round-trips through its JSON") {
  SchemaChange c = Change("CREATE", kPatient);
  REQUIRE(c.op == SchemaChange::Op::kCreate);
  const Schema& s = c.schemas.front();
  CHECK(s.aggregate == "patient");
  CHECK(s.events.at("patient-created") == std::vector<std::string>{"birthdate", "name"});
  CHECK(s.snapshot_threshold == 25);
  CHECK_FALSE(s.locked);
  Schema back;
  REQUIRE(ParseSchemaJson(SchemaJson(s), &back).ok());
  CHECK(back == s);
  SchemaChange stored;
  REQUIRE(ParseStoredSchemaChange(c.Json(), &stored).ok());
  CHECK(stored.Json() == c.Json());
  std::vector<SchemaChange> list;
  REQUIRE(DecodeStagedChanges(EncodeStagedChanges({c, Change("ALTER", R"({"aggregate":"patient","lock":true})")}), &list).ok());
  REQUIRE(list.size() == 2);
  CHECK(list[1].lock == std::optional<bool>(true));
}

TEST_CASE("bad SCHEMA arguments get ERR for shape and INVALID for names") {
  CHECK(ParseCode("CREATE", "not json") == Code::kErr);
  CHECK(ParseCode("CREATE", "[]") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","events":{},"evnts":1})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","aggregate":"q","events":{}})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p"})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":5,"events":{}})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","events":{"t":{"fields":"a"}}})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","events":{},"snapshot_threshold":-1})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p.x","events":{}})") == Code::kInvalid);
  CHECK(ParseCode("CREATE", R"({"aggregate":"$audit","events":{}})") == Code::kInvalid);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","events":{"":{}}})") == Code::kInvalid);
  CHECK(ParseCode("CREATE", R"({"aggregate":"p","events":{"t":{"fields":["a b"]}}})") == Code::kInvalid);
  CHECK(ParseCode("ALTER", R"({"aggregate":"p"})") == Code::kErr);                       // no change
  CHECK(ParseCode("ALTER", R"({"aggregate":"p","field":"a"})") == Code::kErr);           // field without lock
  CHECK(ParseCode("ALTER", R"({"aggregate":"p","add":["a"]})") == Code::kErr);           // add without event
  CHECK(ParseCode("ALTER", R"({"aggregate":"p","event":"t"})") == Code::kErr);           // event without add/remove
  CHECK(ParseCode("ALTER", R"({"aggregate":"p","lock":"yes"})") == Code::kErr);
  CHECK(ParseCode("REMOVE", R"({"aggregate":"p","extra":1})") == Code::kErr);
  CHECK(ParseCode("CREATE", R"({"schemas":[{"aggregate":"p","events":{}},{"aggregate":"p","events":{}}]})") == Code::kErr);
}

TEST_CASE("staged changes apply in order; each misfit is an ERR naming it") {
  SchemaMap m;
  REQUIRE(ApplySchemaChange(Change("CREATE", kPatient), &m).ok());
  Status s = ApplySchemaChange(Change("CREATE", kPatient), &m);
  CHECK(s.code() == Code::kErr);
  CHECK(s.message().find("already exists") != std::string::npos);
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","event":"patient-updated","add":["note"],"remove":["status"]})"), &m).ok());
  CHECK(m.at("patient").events.at("patient-updated") == std::vector<std::string>{"note"});
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","event":"patient-merged","add":[]})"), &m).ok());
  CHECK(m.at("patient").events.count("patient-merged") == 1);
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","field":"birthdate","lock":true})"), &m).ok());
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","lock":true,"snapshot_threshold":0})"), &m).ok());
  CHECK(m.at("patient").locked);
  CHECK(m.at("patient").snapshot_threshold == 0);
  CHECK(m.at("patient").locked_fields == std::vector<std::string>{"birthdate"});
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","field":"birthdate","lock":false})"), &m).ok());
  CHECK(m.at("patient").locked_fields.empty());
  CHECK(ApplySchemaChange(Change("ALTER", R"({"aggregate":"order","lock":true})"), &m).message() ==
        "no schema for aggregate 'order'");
  CHECK(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","event":"patient-updated","remove":["zz"]})"), &m).code() ==
        Code::kErr);
  CHECK(ApplySchemaChange(Change("REMOVE", R"({"aggregate":"patient","event":"nope"})"), &m).code() == Code::kErr);
  REQUIRE(ApplySchemaChange(Change("REMOVE", R"({"aggregate":"patient","event":"patient-merged"})"), &m).ok());
  CHECK(m.at("patient").events.count("patient-merged") == 0);
  REQUIRE(ApplySchemaChange(Change("REMOVE", R"({"aggregate":"patient"})"), &m).ok());
  CHECK(m.empty());

  // An import creates or replaces every listed schema.
  REQUIRE(ApplySchemaChange(Change("CREATE", kPatient), &m).ok());
  SchemaChange import = Change("CREATE", R"({"schema_version":4,"schemas":[{"aggregate":"patient","events":{"x":{}}},)"
                                         R"({"aggregate":"order","events":{}}]})");
  CHECK(import.op == SchemaChange::Op::kImport);
  REQUIRE(ApplySchemaChange(import, &m).ok());
  CHECK(m.size() == 2);
  CHECK(m.at("patient").events.count("x") == 1);
  CHECK(m.at("patient").events.count("patient-created") == 0);
}

TEST_CASE("ADD validation follows the table of docs/protocol.md") {
  SchemaMap m;
  REQUIRE(ApplySchemaChange(Change("CREATE", kPatient), &m).ok());
  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","field":"birthdate","lock":true})"), &m).ok());
  CHECK(ValidateAgainstSchemas(m, false, Add("patient.1", "patient-created", {{"name", "a"}})).ok());
  CHECK(ValidateAgainstSchemas(m, false, Add("patient.1", "patient-created", {})).ok());
  CHECK(ValidateAgainstSchemas(m, false, Add("order.1", "anything", {{"x", "1"}})).ok());
  CHECK(ValidateAgainstSchemas(m, true, Add("$audit", "anything", {})).ok());

  Status s = ValidateAgainstSchemas(m, false, Add("patient.1", "x", {}));
  CHECK(s.code() == Code::kInvalid);
  CHECK(s.message() == "unknown event type 'x' for aggregate 'patient'");
  s = ValidateAgainstSchemas(m, false, Add("patient.1", "patient-updated", {{"name", "a"}}));
  CHECK(s.code() == Code::kInvalid);
  s = ValidateAgainstSchemas(m, false, Add("patient.1", "patient-created", {{"birthdate", std::nullopt}}));
  CHECK(s.code() == Code::kLocked);
  CHECK(s.message() == "field 'birthdate' is locked");
  // A locked field wins over an undeclared one, whatever their order.
  s = ValidateAgainstSchemas(m, false, Add("patient.1", "patient-created", {{"aaa", "1"}, {"birthdate", "1"}}));
  CHECK(s.code() == Code::kLocked);
  StreamAppend opaque = Add("patient.1", "patient-created", {});
  opaque.events[0].data.is_string = true;
  CHECK(ValidateAgainstSchemas(m, false, opaque).code() == Code::kInvalid);
  s = ValidateAgainstSchemas(m, true, Add("order.1", "t", {}));
  CHECK(s.code() == Code::kInvalid);
  CHECK(s.message() == "no schema for aggregate 'order' (the server runs with strict_schemas)");
  // A bare-name stream is its own category.
  CHECK(ValidateAgainstSchemas(m, false, Add("patient", "x", {})).code() == Code::kInvalid);

  REQUIRE(ApplySchemaChange(Change("ALTER", R"({"aggregate":"patient","lock":true})"), &m).ok());
  s = ValidateAgainstSchemas(m, false, Add("patient.1", "patient-created", {{"name", "a"}}));
  CHECK(s.code() == Code::kLocked);
  CHECK(s.message() == "aggregate 'patient' is locked");
}
