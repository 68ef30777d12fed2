// Name rules of PROTOCOL.md §4 and NATS-style stream patterns.
#include "storage/names.h"

#include <array>
#include <cstdint>
#include <utility>

namespace eventful::storage {
namespace {

constexpr size_t kMaxStreamBytes = 255;
constexpr size_t kMaxEventIdChars = 64;
constexpr size_t kMaxFieldNameChars = 128;

enum CharClass : uint8_t {
  kIdChar = 1,      // A-Z a-z 0-9 _ -            (event ids)
  kFieldChar = 2,   // id chars and . :           (field names)
  kStreamChar = 4,  // id chars and : @ + = ~ !   (stream tokens)
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  auto add = [&t](unsigned char c, uint8_t cls) { t[c] |= cls; };
  for (int c = 'A'; c <= 'Z'; ++c) add(c, kIdChar | kFieldChar | kStreamChar);
  for (int c = 'a'; c <= 'z'; ++c) add(c, kIdChar | kFieldChar | kStreamChar);
  for (int c = '0'; c <= '9'; ++c) add(c, kIdChar | kFieldChar | kStreamChar);
  for (char c : {'_', '-'}) add(c, kIdChar | kFieldChar | kStreamChar);
  for (char c : {'.', ':'}) add(c, kFieldChar);
  for (char c : {':', '@', '+', '=', '~', '!'}) add(c, kStreamChar);
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

bool Is(char c, CharClass cls) { return (kClasses[static_cast<unsigned char>(c)] & cls) != 0; }

bool AllOf(std::string_view s, CharClass cls) {
  for (char c : s) {
    if (!Is(c, cls)) return false;
  }
  return true;
}

// A name quoted for an error message: printable ASCII as is, other bytes as \xNN (so the message
// can never break a RESP line), cut after 64 bytes.
std::string Quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  const size_t n = s.size() < 64 ? s.size() : 64;
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  if (n < s.size()) out += "...";
  out += '\'';
  return out;
}

std::string QuotedChar(char c) { return Quoted(std::string_view(&c, 1)); }

void SetWhy(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text);
}

// Checks the tokens of a stream name or pattern. `what` is "stream name" or "pattern";
// wildcards ("*", ">") are accepted as whole tokens when `wildcards` is set.
bool CheckTokens(std::string_view text, std::string_view what, bool wildcards, bool* has_wildcard,
                 std::string* why) {
  const std::string label = std::string(what) + " " + Quoted(text);
  if (text.empty()) {
    SetWhy(why, std::string(what) + " is empty");
    return false;
  }
  if (text.size() > kMaxStreamBytes) {
    SetWhy(why, label + " is " + std::to_string(text.size()) + " bytes, over the limit of " +
                    std::to_string(kMaxStreamBytes));
    return false;
  }
  size_t start = 0;
  bool first = true;
  while (true) {
    const size_t dot = text.find('.', start);
    std::string_view token =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    const bool last = dot == std::string_view::npos;
    if (first && !token.empty() && token[0] == '$') token.remove_prefix(1);  // system stream
    if (token.empty()) {
      SetWhy(why, label + " has an empty token");
      return false;
    }
    if (wildcards && (token == "*" || token == ">")) {
      if (token == ">" && !last) {
        SetWhy(why, label + " has '>' before its last token");
        return false;
      }
      if (token.data() != text.data() + start) {  // "$*" or "$>"
        SetWhy(why, label + " has a bad character '$'");
        return false;
      }
      *has_wildcard = true;
    } else {
      for (char c : token) {
        if (!Is(c, kStreamChar)) {
          SetWhy(why, label + " has a bad character " + QuotedChar(c));
          return false;
        }
      }
    }
    if (last) return true;
    start = dot + 1;
    first = false;
  }
}

}  // namespace

bool ValidStreamName(std::string_view name, std::string* why) {
  bool has_wildcard = false;
  return CheckTokens(name, "stream name", /*wildcards=*/false, &has_wildcard, why);
}

std::string_view Category(std::string_view stream) {
  return stream.substr(0, stream.find('.'));
}

bool ValidEventId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxEventIdChars && AllOf(id, kIdChar);
}

bool ValidFieldName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxFieldNameChars && AllOf(name, kFieldChar);
}

bool Pattern::Parse(std::string_view text, Pattern* out, std::string* why) {
  bool has_wildcard = false;
  if (!CheckTokens(text, "pattern", /*wildcards=*/true, &has_wildcard, why)) return false;
  Pattern p;
  p.text_ = std::string(text);
  p.has_wildcard_ = has_wildcard;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) {
      p.tokens_.emplace_back(text.substr(start));
      break;
    }
    p.tokens_.emplace_back(text.substr(start, dot - start));
    start = dot + 1;
  }
  *out = std::move(p);
  return true;
}

bool Pattern::Matches(std::string_view stream) const {
  if (!has_wildcard_) return stream == text_;
  if (IsSystemStream(stream)) return false;
  size_t start = 0;  // start of the next unmatched stream token; npos once all are consumed
  for (const std::string& token : tokens_) {
    if (start == std::string_view::npos) return false;  // pattern longer than the stream
    if (token == ">") return start < stream.size();     // one or more tokens remain
    const size_t dot = stream.find('.', start);
    const std::string_view part = stream.substr(
        start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token == "*") {
      if (part.empty()) return false;
    } else if (part != token) {
      return false;
    }
    start = dot == std::string_view::npos ? std::string_view::npos : dot + 1;
  }
  return start == std::string_view::npos;  // every stream token matched
}

}  // namespace eventful::storage
