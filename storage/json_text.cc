// JSON string escaping as RFC 8785 (JCS) writes it; byte-identical to Python's
// json.dumps(s, ensure_ascii=False).
#include "storage/json_text.h"

#include <array>
#include <cstdint>

namespace eventful::storage {
namespace {

// For each byte: 0 = copy as is; 'u' = \u00xx; otherwise the letter after the backslash.
constexpr std::array<char, 256> MakeEscapes() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\t'] = 't';
  t['\n'] = 'n';
  t['\f'] = 'f';
  t['\r'] = 'r';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}
constexpr std::array<char, 256> kEscapes = MakeEscapes();

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    const char* run = p;  // copy the longest run of bytes that need no escaping in one go
    while (p < end && kEscapes[static_cast<unsigned char>(*p)] == 0) ++p;
    if (p != run) out->append(run, static_cast<size_t>(p - run));
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p++);
    const char e = kEscapes[c];
    if (e == 'u') {
      const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0f]};
      out->append(u, sizeof(u));
    } else {
      const char esc[2] = {'\\', e};
      out->append(esc, sizeof(esc));
    }
  }
  out->push_back('"');
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

}  // namespace eventful::storage
