// Stream names, patterns, event ids and field names (PROTOCOL.md §4).
#include <doctest/doctest.h>

#include <string>

#include "storage/names.h"

namespace {

using eventful::storage::Category;
using eventful::storage::IsSystemStream;
using eventful::storage::Pattern;
using eventful::storage::ValidEventId;
using eventful::storage::ValidFieldName;
using eventful::storage::ValidStreamName;

bool Valid(std::string_view name) { return ValidStreamName(name, nullptr); }

Pattern MustParse(std::string_view text) {
  Pattern p;
  std::string why;
  REQUIRE_MESSAGE(Pattern::Parse(text, &p, &why), why);
  return p;
}

}  // namespace

TEST_CASE("stream names accept the documented shapes") {
  CHECK(Valid("patient.42"));
  CHECK(Valid("order.2026.0017"));
  CHECK(Valid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
  CHECK(Valid("a"));
  CHECK(Valid("A_z-0:@+=~!.b"));
  CHECK(Valid(std::string(255, 'x')));
  CHECK(Valid("$audit"));
  CHECK(Valid("$audit.tokens"));
}

TEST_CASE("stream names reject empty tokens, bad characters and more than 255 bytes") {
  std::string why;
  CHECK_FALSE(ValidStreamName("", &why));
  CHECK(why == "stream name is empty");
  CHECK_FALSE(ValidStreamName("a..b", &why));
  CHECK(why == "stream name 'a..b' has an empty token");
  CHECK_FALSE(Valid(".a"));
  CHECK_FALSE(Valid("a."));
  CHECK_FALSE(Valid("."));
  CHECK_FALSE(ValidStreamName(std::string(256, 'x'), &why));
  CHECK(why.find("256 bytes") != std::string::npos);
  CHECK_FALSE(ValidStreamName("a b", &why));
  CHECK(why == "stream name 'a b' has a bad character ' '");
  CHECK_FALSE(ValidStreamName("a\r\nb", &why));
  CHECK(why.find('\r') == std::string::npos);  // never breaks a RESP error line
  CHECK_FALSE(Valid("a/b"));
  CHECK_FALSE(Valid("a*"));
  CHECK_FALSE(Valid("a.>"));
  CHECK_FALSE(Valid("caf\xc3\xa9"));
  CHECK_FALSE(Valid("$"));
  CHECK_FALSE(Valid("$$audit"));
  CHECK_FALSE(Valid("a.$audit"));
  CHECK_FALSE(Valid("a$"));
}

TEST_CASE("the category is the first token and system streams start with a dollar") {
  CHECK(Category("patient.42") == "patient");
  CHECK(Category("order.2026.0017") == "order");
  CHECK(Category("single") == "single");
  CHECK(Category("$audit") == "$audit");
  CHECK(IsSystemStream("$audit"));
  CHECK_FALSE(IsSystemStream("audit"));
  CHECK_FALSE(IsSystemStream(""));
}

TEST_CASE("a star pattern matches exactly one token") {
  const Pattern p = MustParse("patient.*");
  CHECK(p.has_wildcard());
  CHECK(p.text() == "patient.*");
  CHECK(p.Matches("patient.42"));
  CHECK_FALSE(p.Matches("patient.42.x"));
  CHECK_FALSE(p.Matches("patient"));
  CHECK_FALSE(p.Matches("patients.42"));
  CHECK_FALSE(p.Matches("order.42"));
  const Pattern mid = MustParse("*.42.*");
  CHECK(mid.Matches("patient.42.x"));
  CHECK_FALSE(mid.Matches("patient.43.x"));
  CHECK_FALSE(mid.Matches("patient.42"));
}

TEST_CASE("a greater-than pattern matches one or more trailing tokens") {
  const Pattern p = MustParse("patient.>");
  CHECK(p.Matches("patient.42"));
  CHECK(p.Matches("patient.42.x"));
  CHECK_FALSE(p.Matches("patient"));
  CHECK_FALSE(p.Matches("order.42"));
  const Pattern all = MustParse(">");
  CHECK(all.Matches("a"));
  CHECK(all.Matches("a.b.c"));
  const Pattern mixed = MustParse("*.x.>");
  CHECK(mixed.Matches("a.x.b"));
  CHECK_FALSE(mixed.Matches("a.x"));
}

TEST_CASE("wildcard patterns never match system streams, exact names do") {
  CHECK_FALSE(MustParse(">").Matches("$audit"));
  CHECK_FALSE(MustParse("*").Matches("$audit"));
  CHECK_FALSE(MustParse("$audit.*").Matches("$audit.x"));
  const Pattern exact = MustParse("$audit");
  CHECK_FALSE(exact.has_wildcard());
  CHECK(exact.Matches("$audit"));
  CHECK_FALSE(exact.Matches("$audit.x"));
  CHECK_FALSE(exact.Matches("audit"));
  CHECK(MustParse("patient.42").Matches("patient.42"));
  CHECK_FALSE(MustParse("patient.42").Matches("patient.420"));
}

TEST_CASE("pattern parsing rejects empty tokens, misplaced wildcards and bad characters") {
  Pattern p;
  std::string why;
  CHECK_FALSE(Pattern::Parse("", &p, &why));
  CHECK(why == "pattern is empty");
  CHECK_FALSE(Pattern::Parse("a..b", &p, &why));
  CHECK(why.find("empty token") != std::string::npos);
  CHECK_FALSE(Pattern::Parse("a.", &p, &why));
  CHECK_FALSE(Pattern::Parse(">.a", &p, &why));
  CHECK(why.find("'>'") != std::string::npos);
  CHECK_FALSE(Pattern::Parse("a*", &p, &why));
  CHECK_FALSE(Pattern::Parse("a.b>", &p, &why));
  CHECK_FALSE(Pattern::Parse("a.**", &p, &why));
  CHECK_FALSE(Pattern::Parse("a b", &p, &why));
  CHECK_FALSE(Pattern::Parse("a.$b", &p, &why));
  CHECK_FALSE(Pattern::Parse("$*", &p, &why));
  CHECK_FALSE(Pattern::Parse(std::string(256, 'x'), &p, &why));
  CHECK(Pattern::Parse("*.*", &p, &why));
}

TEST_CASE("event ids are 1 to 64 characters of letters, digits, underscore and dash") {
  CHECK(ValidEventId("01JD3Y4Z5Q8X2N7M6K4H3G2F1E"));
  CHECK(ValidEventId("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
  CHECK(ValidEventId("a_b"));
  CHECK(ValidEventId(std::string(64, 'x')));
  CHECK_FALSE(ValidEventId(""));
  CHECK_FALSE(ValidEventId(std::string(65, 'x')));
  CHECK_FALSE(ValidEventId("a.b"));
  CHECK_FALSE(ValidEventId("a:b"));
  CHECK_FALSE(ValidEventId("a b"));
  CHECK_FALSE(ValidEventId("\xc3\xa9"));
}

TEST_CASE("field names are 1 to 128 ascii characters including dot and colon") {
  CHECK(ValidFieldName("status"));
  CHECK(ValidFieldName("address.city"));
  CHECK(ValidFieldName("ns:key_1-2"));
  CHECK(ValidFieldName(std::string(128, 'f')));
  CHECK_FALSE(ValidFieldName(""));
  CHECK_FALSE(ValidFieldName(std::string(129, 'f')));
  CHECK_FALSE(ValidFieldName("a b"));
  CHECK_FALSE(ValidFieldName("a@b"));
  CHECK_FALSE(ValidFieldName("caf\xc3\xa9"));
  CHECK_FALSE(ValidFieldName("$x"));
}
