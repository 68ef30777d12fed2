// Building the one JSON object argument of a command key by key, strings escaped as the server
// writes them (storage/json_text.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/json_text.h"

namespace eventful::cli {

// ["a","b"]
inline std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    storage::AppendJsonString(&out, items[i]);
  }
  return out + "]";
}

class JsonObject {
 public:
  void Raw(std::string_view key, const std::string& json) {
    text_ += text_.empty() ? "{" : ",";
    storage::AppendJsonString(&text_, key);
    text_ += ":" + json;
  }
  void String(std::string_view key, const std::string& value) { Raw(key, storage::JsonString(value)); }
  void Number(std::string_view key, uint64_t value) { Raw(key, std::to_string(value)); }
  void Bool(std::string_view key, bool value) { Raw(key, value ? "true" : "false"); }
  void True(std::string_view key) { Raw(key, "true"); }
  std::string Done() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

}  // namespace eventful::cli
