// Schemas of aggregate types (docs/protocol.md "Schemas"): the document, the staged changes
// (SCHEMA:CREATE / ALTER / REMOVE, applied by SCHEMA:MIGRATE) and the validation of ADD.
//
// The store keeps the live schemas, the staged changes and the schema version in the `schemas`
// column family; the committer owns them (store.h). This file is pure logic: parsing, applying,
// encoding, validating.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/append.h"
#include "storage/status.h"

namespace eventful::storage {

struct Schema {
  std::string aggregate;
  std::map<std::string, std::vector<std::string>> events;  // event type -> fields, sorted and unique
  uint64_t snapshot_threshold = 0;                          // 0 = no automatic snapshots
  bool locked = false;
  std::vector<std::string> locked_fields;                   // sorted and unique

  bool operator==(const Schema&) const = default;
};

using SchemaMap = std::map<std::string, Schema>;  // aggregate -> schema

// The document of docs/protocol.md: {"aggregate","events","snapshot_threshold","locked","locked_fields"}.
std::string SchemaJson(const Schema& schema);

// One staged change, as parsed from SCHEMA:CREATE / ALTER / REMOVE.
struct SchemaChange {
  enum class Op { kCreate, kImport, kAlter, kRemove };
  Op op = Op::kCreate;
  std::vector<Schema> schemas;  // kCreate: one; kImport: the document's schemas
  std::string aggregate;        // kAlter, kRemove
  std::optional<uint64_t> snapshot_threshold;
  std::optional<bool> lock;
  std::optional<std::string> field;
  std::optional<std::string> event;
  std::optional<std::vector<std::string>> add, remove;

  // {"op":"create"|"import"|"alter"|"remove", …}: the change as stored and shown.
  std::string Json() const;
  // The aggregates it touches.
  std::vector<std::string> Aggregates() const;
};

// Parses the argument of SCHEMA:CREATE ("CREATE"), SCHEMA:ALTER ("ALTER") or SCHEMA:REMOVE
// ("REMOVE"). ERR for malformed JSON, unknown or duplicate keys, wrong types, a meaningless
// combination; INVALID for bad names.
Status ParseSchemaChange(std::string_view command, std::string_view json, SchemaChange* out);
// Parses SchemaChange::Json() back (the staged changes kept in the store).
Status ParseStoredSchemaChange(std::string_view json, SchemaChange* out);
// The staged changes as kept in the store: a JSON array of SchemaChange::Json().
std::string EncodeStagedChanges(const std::vector<SchemaChange>& changes);
Status DecodeStagedChanges(std::string_view json, std::vector<SchemaChange>* out);
// Parses a SchemaJson document (the live schemas kept in the store).
Status ParseSchemaJson(std::string_view json, Schema* out);

// Applies a change to a set of schemas; ERR when it does not fit (creating an existing aggregate,
// altering an unknown one, removing an absent field or event type).
Status ApplySchemaChange(const SchemaChange& change, SchemaMap* schemas);

// What the committer holds: the live schemas, the staged changes, the version of the live set.
struct SchemaRegistry {
  SchemaMap live;
  std::vector<SchemaChange> pending;
  uint64_t version = 0;  // bumps with every applied migration

  // The live schemas with every staged change applied.
  Status PendingView(SchemaMap* out) const;
};

// ADD validation of one stream's events against the live schemas (docs/protocol.md table): INVALID
// or LOCKED, naming the rule. System streams always pass.
Status ValidateAgainstSchemas(const SchemaMap& live, bool strict, const StreamAppend& append);

}  // namespace eventful::storage
