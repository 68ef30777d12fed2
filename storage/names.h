// Name rules of PROTOCOL.md §4: streams, patterns, event ids, field names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace eventful::storage {

// Stream: 1-255 bytes; dot-separated tokens, none empty; token chars A-Z a-z 0-9 _ - : @ + = ~ !
// A leading '$' on the first token marks a system stream ("$audit") and is accepted here.
// On failure `why` gets a human-readable reason (e.g. "stream name 'a..b' has an empty token").
bool ValidStreamName(std::string_view name, std::string* why);
inline bool IsSystemStream(std::string_view name) { return !name.empty() && name[0] == '$'; }
// The first token (the aggregate type).
std::string_view Category(std::string_view stream);

// Event id: 1-64 chars of [A-Za-z0-9_-].
bool ValidEventId(std::string_view id);
// Field name inside data/metadata: 1-128 chars of A-Z a-z 0-9 _ - . :
bool ValidFieldName(std::string_view name);

// NATS-style subject pattern: tokens split by '.'; "*" matches exactly one token, ">" (only as the
// last token) matches one or more trailing tokens; any other token matches itself literally.
// Wildcard patterns never match system ('$') streams; a pattern without wildcards matches exactly
// its own name, system streams included.
class Pattern {
 public:
  // Rejects empty patterns, empty tokens, '>' not in last position, bad characters.
  static bool Parse(std::string_view text, Pattern* out, std::string* why);
  bool Matches(std::string_view stream) const;
  bool has_wildcard() const { return has_wildcard_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::string> tokens_;
  bool has_wildcard_ = false;
};

}  // namespace eventful::storage
