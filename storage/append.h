// A validated ADD request, as the command layer hands it to the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/event.h"

namespace eventful::storage {

struct EventInput {
  std::optional<std::string> id;  // syntax already checked
  std::string type;               // 1..255 bytes
  Payload data;
  Payload metadata;
  std::optional<std::string> causation_id;
  std::optional<std::string> correlation_id;
};

struct ExpectedVersion {
  enum class Kind { kAny, kExists, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // kExact only
};

struct StreamAppend {
  std::string stream;  // valid name, not a system stream, unique within the request
  ExpectedVersion expected;
  std::vector<EventInput> events;  // non-empty
};

struct AppendRequest {
  std::vector<StreamAppend> streams;  // non-empty
  std::string actor;                  // recorded as the events' `actor`
  uint64_t client = 0;                // the connection it came from (group-commit batching hint)
};

}  // namespace eventful::storage
