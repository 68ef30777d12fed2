// libFuzzer target for the SCHEMA:CREATE / ALTER / REMOVE argument parser and the staged-change
// logic (storage/schema.h).
//
// The first input byte picks the command, the rest is its JSON argument. The parser must never
// crash, and:
//   - a rejection is ERR (shape, keys, types) or INVALID (names), with a message;
//   - an accepted change, written as it is stored (SchemaChange::Json), parses back to the same
//     text, alone and inside the staged-changes array;
//   - applying it to an empty set and to a set holding a sample schema never crashes; each schema
//     it leaves behind round-trips through its document (SchemaJson / ParseSchemaJson) and
//     validating a sample ADD against the result gives OK, INVALID or LOCKED only.
//
// The input is parsed from an exact-size heap copy so ASan catches any read past its end.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "storage/schema.h"

namespace {

using eventful::Code;
using eventful::Status;
using namespace eventful::storage;

void Require(bool ok) {
  if (!ok) std::abort();
}

void CheckResult(const SchemaMap& m) {
  for (const auto& [name, schema] : m) {
    Require(name == schema.aggregate);
    Schema back;
    Require(ParseSchemaJson(SchemaJson(schema), &back).ok());
    Require(back == schema);
  }
  for (const char* type : {"patient-created", "x"}) {
    StreamAppend sa;
    sa.stream = "patient.1";
    EventInput e;
    e.type = type;
    e.data.fields = {{"birthdate", "1"}, {"name", std::nullopt}};
    sa.events.push_back(e);
    for (bool strict : {false, true}) {
      const Code c = ValidateAgainstSchemas(m, strict, sa).code();
      Require(c == Code::kOk || c == Code::kInvalid || c == Code::kLocked);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kCommands[] = {"CREATE", "ALTER", "REMOVE"};
  const char* command = kCommands[data[0] % 3];
  auto copy = std::make_unique<char[]>(size - 1);
  if (size > 1) std::memcpy(copy.get(), data + 1, size - 1);
  const std::string_view json(copy.get(), size - 1);

  SchemaChange change;
  Status s = ParseSchemaChange(command, json, &change);
  if (!s.ok()) {
    Require(s.code() == Code::kErr || s.code() == Code::kInvalid);
    Require(!s.message().empty());
    return 0;
  }
  const std::string text = change.Json();
  SchemaChange stored;
  Require(ParseStoredSchemaChange(text, &stored).ok());
  Require(stored.Json() == text);
  std::vector<SchemaChange> list;
  Require(DecodeStagedChanges(EncodeStagedChanges({change, change}), &list).ok());
  Require(list.size() == 2 && list[1].Json() == text);

  SchemaMap empty;
  (void)ApplySchemaChange(change, &empty);
  CheckResult(empty);

  SchemaChange sample;
  Require(ParseSchemaChange("CREATE",
                            R"({"aggregate":"patient","events":{"patient-created":{"fields":["birthdate","name"]}},)"
                            R"("locked_fields":["birthdate"]})",
                            &sample)
              .ok());
  SchemaMap with_sample;
  Require(ApplySchemaChange(sample, &with_sample).ok());
  (void)ApplySchemaChange(change, &with_sample);
  CheckResult(with_sample);
  return 0;
}
