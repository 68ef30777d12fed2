#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "storage/codec.h"
#include "storage/store_impl.h"

using namespace eventful::storage;

TEST_CASE("big-endian keys sort bytewise in numeric order") {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 65536, UINT64_MAX - 1, UINT64_MAX};
  for (int i = 0; i < 1000; ++i) values.push_back(rng() >> (rng() % 64));
  std::vector<std::string> keys;
  for (uint64_t v : values) keys.push_back(U64Key(v));
  std::vector<size_t> by_value(values.size()), by_key(values.size());
  for (size_t i = 0; i < values.size(); ++i) by_value[i] = by_key[i] = i;
  std::stable_sort(by_value.begin(), by_value.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::stable_sort(by_key.begin(), by_key.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  for (size_t i = 0; i < values.size(); ++i) CHECK(values[by_value[i]] == values[by_key[i]]);
  for (uint64_t v : values) CHECK(GetU64BE(U64Key(v)) == v);
}

TEST_CASE("the u64 key encoding is exactly eight big-endian bytes") {
  CHECK(U64Key(0x0102030405060708ull) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(U64Key(0) == std::string(8, '\0'));
}

TEST_CASE("event keys order by stream id, then version") {
  CHECK(EventKey(1, 2) < EventKey(1, 10));
  CHECK(EventKey(1, UINT64_MAX) < EventKey(2, 0));
  CHECK(EventKey(3, 4).size() == 16);
  CHECK(GetU64BE(EventKey(3, 4)) == 3);
  CHECK(GetU64BE(EventKey(3, 4).substr(8)) == 4);
}

TEST_CASE("merkle node keys are tree, one level byte, index") {
  const std::string k = MerkleKey(7, 4, 9);
  REQUIRE(k.size() == 17);
  CHECK(GetU64BE(k) == 7);
  CHECK(static_cast<unsigned char>(k[8]) == 4);
  CHECK(GetU64BE(k.substr(9)) == 9);
  CHECK(MerkleKey(7, 4, 9) < MerkleKey(7, 5, 0));
  CHECK(MerkleKey(7, 63, 0) < MerkleKey(8, 4, 0));
}

TEST_CASE("a stream record round-trips its id and frontier and rejects truncation") {
  StreamState s;
  s.id = 42;
  for (int i = 0; i < 13; ++i) s.frontier.Append(Sha256(std::to_string(i)));
  const std::string enc = EncodeStreamState(s);
  StreamState back;
  REQUIRE(DecodeStreamState(enc, &back));
  CHECK(back.id == 42);
  CHECK(back.frontier.size == 13);
  CHECK(back.frontier.Root() == s.frontier.Root());
  CHECK_FALSE(DecodeStreamState(enc.substr(0, enc.size() - 1), &back));
  CHECK_FALSE(DecodeStreamState(enc.substr(0, 7), &back));
}
