// RESP request parser.
//
// Grammar (what Redis' processMultibulkBuffer / processInlineBuffer accept):
//
//   input     := { skipped } command
//   skipped   := "*0\r\n" | "*-1\r\n" | blank-line
//   command   := multibulk | inline-line
//   multibulk := "*" count "\r\n" { "$" len "\r\n" <len bytes> "\r\n" }   (count times)
//   inline    := any first byte but '*'; the line up to "\n" (an optional "\r" before it is
//                dropped), split by sdssplitargs quoting rules
//   count,len := "0" | [1-9][0-9]*          (no sign, no spaces, no leading zeros; count may be -1)
//
// Every error depends only on bytes already present, so a prefix of an input either needs more,
// or gives the same command / error as the whole input (the split tests and the fuzzer check it).

#include "protocol/resp_parser.h"

#include <cstdint>
#include <cstring>

namespace eventful::protocol {
namespace {

// Longest `*count` / `$len` line accepted without its CRLF (Redis' PROTO_INLINE_MAX_SIZE).
constexpr std::size_t kMaxHeaderLine = 64u << 10;

enum class Step { kComplete, kSkipped, kNeedMore, kError };

// Redis' string2ll: optional '-', then "0" or a digit string without leading zeros. Rejects '+',
// spaces, empty input, "-0" and anything outside int64_t.
bool ParseInt(std::string_view s, int64_t* out) {
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 19) return false;
  if (s[0] == '0') {
    if (s.size() != 1 || negative) return false;
    *out = 0;
    return true;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');  // 19 digits cannot overflow uint64_t
  }
  if (negative) {
    if (v > uint64_t{INT64_MAX} + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > uint64_t{INT64_MAX}) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

// Reads the `*count` or `$len` line starting at `start` (which holds the type byte). On success
// `*digits` is the text between the type byte and CRLF and `*next` the offset after the CRLF.
Step ReadHeaderLine(std::string_view input, std::size_t start, const char* too_big,
                    const char* invalid, std::string_view* digits, std::size_t* next,
                    std::string* error) {
  const char* base = input.data() + start;
  const std::size_t avail = input.size() - start;
  const std::size_t window = avail > kMaxHeaderLine ? kMaxHeaderLine + 1 : avail;
  const void* cr = std::memchr(base, '\r', window);
  if (cr == nullptr) {
    if (avail > kMaxHeaderLine) {
      *error = too_big;
      return Step::kError;
    }
    return Step::kNeedMore;
  }
  const std::size_t p = static_cast<std::size_t>(static_cast<const char*>(cr) - base);
  if (p + 1 >= avail) return Step::kNeedMore;
  if (base[p + 1] != '\n') {
    *error = invalid;
    return Step::kError;
  }
  *digits = std::string_view(base + 1, p - 1);
  *next = start + p + 2;
  return Step::kComplete;
}

Step ParseMultibulk(std::string_view input, std::size_t start, const Limits& limits, Command* cmd,
                    std::size_t* end, std::string* error) {
  static constexpr char kInvalidCount[] = "Protocol error: invalid multibulk length";
  static constexpr char kInvalidLen[] = "Protocol error: invalid bulk length";

  std::string_view digits;
  std::size_t pos = 0;
  Step s = ReadHeaderLine(input, start, "Protocol error: too big mbulk count string", kInvalidCount,
                          &digits, &pos, error);
  if (s != Step::kComplete) return s;
  int64_t count = 0;
  if (!ParseInt(digits, &count) || count < -1) {
    *error = kInvalidCount;
    return Step::kError;
  }
  if (count <= 0) {  // `*0` and `*-1` are consumed and ignored, as Redis does.
    *end = pos;
    return Step::kSkipped;
  }
  if (static_cast<uint64_t>(count) > limits.max_args) {
    *error = kInvalidCount;
    return Step::kError;
  }

  for (int64_t i = 0; i < count; ++i) {
    if (pos >= input.size()) return Step::kNeedMore;
    if (input[pos] != '$') {
      *error = "Protocol error: expected '$', got '";
      error->push_back(input[pos]);
      error->push_back('\'');
      return Step::kError;
    }
    s = ReadHeaderLine(input, pos, "Protocol error: too big bulk count string", kInvalidLen,
                       &digits, &pos, error);
    if (s != Step::kComplete) return s;
    int64_t len = 0;
    if (!ParseInt(digits, &len) || len < 0 || static_cast<uint64_t>(len) > limits.max_bulk) {
      *error = kInvalidLen;
      return Step::kError;
    }
    const std::size_t n = static_cast<std::size_t>(len);
    const std::size_t avail = input.size() - pos;
    // Check the terminator byte by byte as it arrives, so a prefix fails exactly like the whole.
    if ((avail > n && input[pos + n] != '\r') || (avail > n + 1 && input[pos + n + 1] != '\n')) {
      *error = "Protocol error: bulk string not terminated by CRLF";
      return Step::kError;
    }
    if (avail < n + 2) return Step::kNeedMore;
    cmd->argv.emplace_back(input.data() + pos, n);
    pos += n + 2;
  }
  *end = pos;
  return Step::kComplete;
}

inline bool IsSpace(unsigned char c) {  // isspace() in the C locale
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

inline int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Redis' sdssplitargs() on one line. `at(i)` yields 0 past the end, like the C string it reads,
// so an embedded NUL ends the line just as it does in Redis. All arguments are unescaped into one
// string in cmd->owned, reserved to the line's length up front (unescaping never grows the text),
// so the argv views into it stay valid.
Step SplitInline(std::string_view line, const Limits& limits, Command* cmd, std::string* error) {
  const std::size_t size = line.size();
  auto at = [&](std::size_t i) -> unsigned char {
    return i < size ? static_cast<unsigned char>(line[i]) : 0;
  };
  std::size_t p = 0;
  while (at(p) != 0 && IsSpace(at(p))) ++p;
  if (at(p) == 0) return Step::kSkipped;  // blank line

  std::string& buf = cmd->owned.emplace_back();
  buf.reserve(size);
  auto unbalanced = [&] {
    *error = "Protocol error: unbalanced quotes in request";
    return Step::kError;
  };
  while (true) {
    while (at(p) != 0 && IsSpace(at(p))) ++p;
    if (at(p) == 0) break;
    const std::size_t arg_start = buf.size();
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      const unsigned char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && HexValue(at(p + 2)) >= 0 && HexValue(at(p + 3)) >= 0) {
          buf.push_back(static_cast<char>(HexValue(at(p + 2)) * 16 + HexValue(at(p + 3))));
          p += 3;
        } else if (c == '\\' && at(p + 1) != 0) {
          ++p;
          char e;
          switch (at(p)) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: e = static_cast<char>(at(p)); break;
          }
          buf.push_back(e);
        } else if (c == '"') {
          // A closing quote must be followed by a space or nothing at all.
          if (at(p + 1) != 0 && !IsSpace(at(p + 1))) return unbalanced();
          done = true;
        } else if (c == 0) {
          return unbalanced();
        } else {
          buf.push_back(static_cast<char>(c));
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          buf.push_back('\'');
        } else if (c == '\'') {
          if (at(p + 1) != 0 && !IsSpace(at(p + 1))) return unbalanced();
          done = true;
        } else if (c == 0) {
          return unbalanced();
        } else {
          buf.push_back(static_cast<char>(c));
        }
      } else {
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            buf.push_back(static_cast<char>(c));
            break;
        }
      }
      if (at(p) != 0) ++p;
    }
    if (cmd->argv.size() >= limits.max_args) {
      *error = "Protocol error: too many arguments in inline request";
      return Step::kError;
    }
    cmd->argv.emplace_back(buf.data() + arg_start, buf.size() - arg_start);
  }
  return Step::kComplete;
}

Step ParseInline(std::string_view input, std::size_t start, const Limits& limits, Command* cmd,
                 std::size_t* end, std::string* error) {
  const char* base = input.data() + start;
  const std::size_t avail = input.size() - start;
  // A line (without its '\n') may hold at most max_inline bytes, whether or not the newline has
  // arrived yet; checking both ways keeps the answer independent of how the bytes were split.
  const std::size_t window = avail > limits.max_inline ? limits.max_inline + 1 : avail;
  const void* nl = std::memchr(base, '\n', window);
  if (nl == nullptr) {
    if (avail > limits.max_inline) {
      *error = "Protocol error: too big inline request";
      return Step::kError;
    }
    return Step::kNeedMore;
  }
  std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - base);
  *end = start + len + 1;
  if (len > 0 && base[len - 1] == '\r') --len;
  return SplitInline(std::string_view(base, len), limits, cmd, error);
}

}  // namespace

ParseResult Parse(std::string_view input, const Limits& limits, Command* cmd) {
  cmd->Clear();
  ParseResult result;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t end = pos;
    const Step step = input[pos] == '*'
                          ? ParseMultibulk(input, pos, limits, cmd, &end, &result.error)
                          : ParseInline(input, pos, limits, cmd, &end, &result.error);
    switch (step) {
      case Step::kComplete:
        result.status = ParseStatus::kComplete;
        result.consumed = end;
        return result;
      case Step::kSkipped:
        cmd->Clear();
        pos = end;
        continue;
      case Step::kNeedMore:
        break;
      case Step::kError:
        cmd->Clear();
        result.status = ParseStatus::kError;
        result.consumed = pos;
        return result;
    }
    break;
  }
  cmd->Clear();
  result.status = ParseStatus::kNeedMore;
  result.consumed = pos;
  return result;
}

}  // namespace eventful::protocol
