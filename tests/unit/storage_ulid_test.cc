// Monotonic ULID generation.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "storage/ulid.h"

namespace {

using eventful::storage::UlidGenerator;

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int64_t DecodeTime(const std::string& ulid) {
  int64_t ms = 0;
  for (int i = 0; i < 10; ++i) ms = ms * 32 + static_cast<int64_t>(kAlphabet.find(ulid[i]));
  return ms;
}

}  // namespace

TEST_CASE("ulids are 26 characters of the crockford alphabet") {
  UlidGenerator gen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = gen.Next(1795428000123 + i);
    REQUIRE(id.size() == 26);
    for (char c : id) REQUIRE(kAlphabet.find(c) != std::string_view::npos);
  }
}

TEST_CASE("the ulid time prefix encodes the milliseconds") {
  UlidGenerator gen;
  CHECK(gen.Next(0).substr(0, 10) == "0000000000");
  CHECK(DecodeTime(gen.Next(1795428000123)) == 1795428000123);
  CHECK(gen.Next(1795428000124).substr(0, 10) == "01M83XJ8BW");
  CHECK(gen.Next((int64_t{1} << 48) - 1).substr(0, 10) == "7ZZZZZZZZZ");
}

TEST_CASE("ulids strictly increase within one millisecond") {
  UlidGenerator gen;
  std::string prev = gen.Next(1795428000123);
  for (int i = 0; i < 10000; ++i) {
    const std::string next = gen.Next(1795428000123);
    REQUIRE(prev < next);
    REQUIRE(DecodeTime(next) == 1795428000123);
    prev = next;
  }
}

TEST_CASE("ulids keep increasing when the clock goes back") {
  UlidGenerator gen;
  const std::string a = gen.Next(2000);
  const std::string b = gen.Next(1000);
  const std::string c = gen.Next(2001);
  CHECK(a < b);
  CHECK(DecodeTime(b) == 2000);
  CHECK(b < c);
  CHECK(DecodeTime(c) == 2001);
}

TEST_CASE("separate generators produce different ulids in the same millisecond") {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(UlidGenerator().Next(5));
  CHECK(ids.size() == 1000);
}
