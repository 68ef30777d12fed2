// RFC 3339 formatting and parsing.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "storage/clock.h"

namespace {

using eventful::storage::FormatRfc3339Ms;
using eventful::storage::NowMs;
using eventful::storage::ParseRfc3339;

constexpr int64_t k20261123 = 1795428000123;  // 2026-11-23T10:00:00.123Z

bool Parses(std::string_view text, int64_t expected) {
  int64_t ms = -42;
  return ParseRfc3339(text, &ms) && ms == expected;
}

bool Rejects(std::string_view text) {
  int64_t ms = 0;
  return !ParseRfc3339(text, &ms);
}

}  // namespace

TEST_CASE("known instants format as rfc 3339 with milliseconds") {
  CHECK(FormatRfc3339Ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Ms(k20261123) == "2026-11-23T10:00:00.123Z");
  CHECK(FormatRfc3339Ms(1709210096789) == "2024-02-29T12:34:56.789Z");
  CHECK(FormatRfc3339Ms(951868800000) == "2000-03-01T00:00:00.000Z");
  CHECK(FormatRfc3339Ms(951868800000 - 1) == "2000-02-29T23:59:59.999Z");
  CHECK(FormatRfc3339Ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Ms(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Ms(-62167219200000) == "0000-01-01T00:00:00.000Z");
}

TEST_CASE("instants outside years 0000 to 9999 are clamped to 24 characters") {
  CHECK(FormatRfc3339Ms(253402300799999 + 1) == "9999-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Ms(INT64_MAX) == "9999-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339Ms(-62167219200000 - 1) == "0000-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Ms(INT64_MIN) == "0000-01-01T00:00:00.000Z");
}

TEST_CASE("the clock reads a plausible time") {
  const int64_t now = NowMs();
  CHECK(now > k20261123 - 10LL * 365 * 86400000);
  CHECK(FormatRfc3339Ms(now).size() == 24);
}

TEST_CASE("rfc 3339 parsing accepts offsets, fractions and lowercase separators") {
  CHECK(Parses("2026-11-23T10:00:00.123Z", k20261123));
  CHECK(Parses("2026-11-23t10:00:00.123z", k20261123));
  CHECK(Parses("2026-11-23T10:00:00Z", k20261123 - 123));
  CHECK(Parses("2026-11-23T10:00:00.1Z", k20261123 - 23));
  CHECK(Parses("2026-11-23T10:00:00.12Z", k20261123 - 3));
  CHECK(Parses("2026-11-23T10:00:00.123999999Z", k20261123));  // truncated, not rounded
  CHECK(Parses("2026-11-23T12:00:00.123+02:00", k20261123));
  CHECK(Parses("2026-11-23T04:30:00.123-05:30", k20261123));
  CHECK(Parses("2026-11-24T09:59:00.123+23:59", k20261123));
  CHECK(Parses("2026-11-23T10:00:00.123+00:00", k20261123));
  CHECK(Parses("2026-11-23T10:00:00.123-00:00", k20261123));
  CHECK(Parses("2024-02-29T12:34:56.789Z", 1709210096789));
  CHECK(Parses("2000-02-29T00:00:00Z", 951782400000));
  CHECK(Parses("1969-12-31T23:59:59.999Z", -1));
  CHECK(Parses("0000-01-01T00:00:00Z", -62167219200000));
  CHECK(Parses("9999-12-31T23:59:59.999Z", 253402300799999));
}

TEST_CASE("rfc 3339 parsing rejects impossible dates and malformed text") {
  CHECK(Rejects(""));
  CHECK(Rejects("2026-02-30T00:00:00Z"));
  CHECK(Rejects("2023-02-29T00:00:00Z"));
  CHECK(Rejects("1900-02-29T00:00:00Z"));
  CHECK(Rejects("2026-04-31T00:00:00Z"));
  CHECK(Rejects("2026-13-01T00:00:00Z"));
  CHECK(Rejects("2026-00-01T00:00:00Z"));
  CHECK(Rejects("2026-01-00T00:00:00Z"));
  CHECK(Rejects("2026-11-23T24:00:00Z"));
  CHECK(Rejects("2026-11-23T10:60:00Z"));
  CHECK(Rejects("2026-11-23T10:00:60Z"));  // leap seconds are not accepted
  CHECK(Rejects("2026-11-23T10:00:00"));   // missing zone
  CHECK(Rejects("2026-11-23T10:00:00.123"));
  CHECK(Rejects("2026-11-23T10:00:00ZZ"));  // trailing junk
  CHECK(Rejects("2026-11-23T10:00:00Z "));
  CHECK(Rejects(" 2026-11-23T10:00:00Z"));
  CHECK(Rejects("2026-11-23 10:00:00Z"));
  CHECK(Rejects("2026-11-23"));
  CHECK(Rejects("2026-11-23T10:00Z"));
  CHECK(Rejects("2026-11-23T10:00:00.Z"));
  CHECK(Rejects("2026-11-23T10:00:00,5Z"));
  CHECK(Rejects("2026-11-23T10:00:00+0200"));
  CHECK(Rejects("2026-11-23T10:00:00+2:00"));
  CHECK(Rejects("2026-11-23T10:00:00+24:00"));
  CHECK(Rejects("2026-11-23T10:00:00+02:60"));
  CHECK(Rejects("2026-11-23T10:00:00+02:00x"));
  CHECK(Rejects("26-11-23T10:00:00Z"));
  CHECK(Rejects("+2026-11-23T10:00:00Z"));
  CHECK(Rejects("2026-1-23T10:00:00Z"));
  CHECK(Rejects("2026-11-23X10:00:00Z"));
  CHECK(Rejects("2026-11-23T1a:00:00Z"));
}

TEST_CASE("formatted instants parse back to themselves") {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> dist(-62167219200000, 253402300799999);
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = dist(rng);
    const std::string text = FormatRfc3339Ms(ms);
    CAPTURE(text);
    REQUIRE(text.size() == 24);
    int64_t back = 0;
    REQUIRE(ParseRfc3339(text, &back));
    REQUIRE(back == ms);
  }
}
