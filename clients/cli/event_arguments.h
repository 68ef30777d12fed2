// The free-form arguments of the subcommands that describe one event on the command line
// (event:add, aggregate:apply): one bare word, the event type, and data fields written
// `--name=value` or `--name value`, every value a JSON string.
//
//   eventful event:add patient-updated --stream=patient.42 --status=deceased
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventful::cli {

struct EventArguments {
  std::string type;
  std::vector<std::pair<std::string, std::string>> fields;  // in command-line order, names unique
};

// Splits `extras` (the arguments CLI11 left over for `command`, in order) into the event type and
// the data fields. Prints "error: ..." and returns false when they do not have that shape.
bool ParseEventArguments(std::string_view command, const std::vector<std::string>& extras, EventArguments* out);

// The fields as a JSON object: {"status":"deceased"}.
std::string DataJson(const EventArguments& event);

}  // namespace eventful::cli
