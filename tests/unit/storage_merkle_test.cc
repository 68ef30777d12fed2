// SHA-256, RFC 6962 leaf/node hashes, the Merkle frontier and the reference MTH.
#include <doctest/doctest.h>

#include <bit>
#include <cctype>
#include <map>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "storage/hash.h"
#include "storage/merkle.h"

namespace {

using eventful::storage::EmptyTreeHash;
using eventful::storage::Frontier;
using eventful::storage::FromHex;
using eventful::storage::Hash;
using eventful::storage::LeafHash;
using eventful::storage::MerkleRoot;
using eventful::storage::NodeHash;
using eventful::storage::Sha256;
using eventful::storage::ToHex;

std::vector<Hash> RandomLeaves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Hash> leaves(n);
  for (Hash& h : leaves) {
    std::string data(1 + rng() % 40, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    h = LeafHash(data);
  }
  return leaves;
}

// The certificate-transparency test inputs (RFC 6962 reference tests).
std::vector<Hash> CtLeaves() {
  const std::vector<std::string> inputs = {
      std::string(),
      std::string("\x00", 1),
      "\x10",
      "\x20\x21",
      "\x30\x31",
      "\x40\x41\x42\x43",
      "\x50\x51\x52\x53\x54\x55\x56\x57",
      "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
  };
  std::vector<Hash> leaves;
  for (const std::string& in : inputs) leaves.push_back(LeafHash(in));
  return leaves;
}

const char* const kCtRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

constexpr const char* kEmptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-2 test vectors") {
  CHECK(ToHex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(ToHex(Sha256("")) == kEmptyRoot);
  CHECK(ToHex(EmptyTreeHash()) == kEmptyRoot);
  CHECK(ToHex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("leaf and node hashes prefix 0x00 and 0x01") {
  CHECK(LeafHash("abc") == Sha256(std::string("\x00" "abc", 4)));
  const Hash l = Sha256("l");
  const Hash r = Sha256("r");
  std::string joined = "\x01";
  joined.append(reinterpret_cast<const char*>(l.data()), l.size());
  joined.append(reinterpret_cast<const char*>(r.data()), r.size());
  CHECK(NodeHash(l, r) == Sha256(joined));
  CHECK(NodeHash(l, r) != NodeHash(r, l));
}

TEST_CASE("hex round trips and rejects malformed input") {
  const Hash h = Sha256("x");
  Hash back{};
  REQUIRE(FromHex(ToHex(h), &back));
  CHECK(back == h);
  std::string upper = ToHex(h);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  REQUIRE(FromHex(upper, &back));
  CHECK(back == h);
  CHECK_FALSE(FromHex(ToHex(h).substr(1), &back));
  CHECK_FALSE(FromHex(ToHex(h) + "0", &back));
  CHECK_FALSE(FromHex("g" + ToHex(h).substr(1), &back));
  CHECK_FALSE(FromHex("", &back));
}

TEST_CASE("merkle root matches the RFC 6962 test vectors") {
  const std::vector<Hash> leaves = CtLeaves();
  CHECK(ToHex(MerkleRoot({})) == kEmptyRoot);
  Frontier f;
  CHECK(ToHex(f.Root()) == kEmptyRoot);
  for (size_t n = 1; n <= leaves.size(); ++n) {
    CAPTURE(n);
    CHECK(ToHex(MerkleRoot(std::span(leaves).first(n))) == kCtRoots[n - 1]);
    f.Append(leaves[n - 1]);
    CHECK(f.size == n);
    CHECK(ToHex(f.Root()) == kCtRoots[n - 1]);
  }
}

TEST_CASE("frontier root equals the reference root for every size up to 300") {
  const std::vector<Hash> leaves = RandomLeaves(300, 42);
  Frontier f;
  CHECK(f.Root() == MerkleRoot({}));
  for (size_t n = 1; n <= leaves.size(); ++n) {
    f.Append(leaves[n - 1]);
    CAPTURE(n);
    REQUIRE(f.peaks.size() == static_cast<size_t>(std::popcount(n)));
    REQUIRE(f.Root() == MerkleRoot(std::span(leaves).first(n)));
  }
}

TEST_CASE("frontier emits every completed subtree once with the root of its leaf range") {
  const size_t n = 300;
  const std::vector<Hash> leaves = RandomLeaves(n, 7);
  std::map<std::pair<int, uint64_t>, Hash> nodes;
  Frontier f;
  for (size_t i = 0; i < n; ++i) {
    int last_level = -1;
    f.Append(leaves[i], [&](int level, uint64_t index, const Hash& node) {
      CHECK(level == last_level + 1);  // bottom-up, starting with the leaf
      last_level = level;
      CHECK(nodes.emplace(std::pair(level, index), node).second);
    });
    CHECK(last_level == std::countr_one(i));  // as many merges as trailing ones of the old size
  }
  size_t expected = 0;
  for (size_t span = 1; span <= n; span *= 2) expected += n / span;
  CHECK(nodes.size() == expected);
  for (const auto& [key, node] : nodes) {
    const auto [level, index] = key;
    const size_t first = static_cast<size_t>(index) << level;
    const size_t count = size_t{1} << level;
    REQUIRE(first + count <= n);
    CAPTURE(level);
    CAPTURE(index);
    CHECK(node == MerkleRoot(std::span(leaves).subspan(first, count)));
  }
}

TEST_CASE("frontier encoding round trips and continues where it left off") {
  const std::vector<Hash> leaves = RandomLeaves(70, 3);
  Frontier f;
  for (size_t n = 0; n <= leaves.size(); ++n) {
    const std::string enc = f.Encode();
    CHECK(enc.size() == 8 + 32 * static_cast<size_t>(std::popcount(n)));
    Frontier back;
    REQUIRE(Frontier::Decode(enc, &back));
    CHECK(back.size == f.size);
    CHECK(back.peaks == f.peaks);
    CHECK(back.Root() == f.Root());
    if (n < leaves.size()) {
      back.Append(leaves[n]);
      f.Append(leaves[n]);
      CHECK(back.Root() == f.Root());
    }
  }
  // Size is big-endian in the first 8 bytes.
  CHECK(f.Encode().substr(0, 8) == std::string("\0\0\0\0\0\0\0\x46", 8));
}

TEST_CASE("frontier decoding rejects inputs of the wrong length") {
  Frontier f;
  for (const Hash& h : RandomLeaves(5, 9)) f.Append(h);  // size 5: two peaks
  const std::string enc = f.Encode();
  REQUIRE(enc.size() == 8 + 64);
  Frontier out;
  out.size = 99;
  CHECK_FALSE(Frontier::Decode("", &out));
  CHECK_FALSE(Frontier::Decode(enc.substr(0, 7), &out));
  CHECK_FALSE(Frontier::Decode(enc.substr(0, enc.size() - 1), &out));
  CHECK_FALSE(Frontier::Decode(enc.substr(0, enc.size() - 32), &out));
  CHECK_FALSE(Frontier::Decode(enc + std::string(32, 'x'), &out));
  CHECK_FALSE(Frontier::Decode(enc + "x", &out));
  CHECK_FALSE(Frontier::Decode(std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8), &out));
  CHECK(out.size == 99);  // untouched on failure
  CHECK(Frontier::Decode(std::string(8, '\0'), &out));
  CHECK(out.size == 0);
  CHECK(out.peaks.empty());
}
