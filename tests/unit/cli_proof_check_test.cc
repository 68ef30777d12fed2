// The CLI's client-side proof and tree-head checks (clients/cli/proof_check.h), against proofs
// built here by a direct transcription of RFC 9162's recursive PATH and SUBPROOF definitions
// (§2.1.3.1, §2.1.4.1) and roots from storage's reference MerkleRoot.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "clients/cli/proof_check.h"
#include "server/treehead_key.h"
#include "storage/hash.h"
#include "storage/merkle.h"

namespace {

using eventful::cli::KeyIdOf;
using eventful::cli::TreeHead;
using eventful::cli::TreeHeadMessage;
using eventful::cli::VerifyConsistency;
using eventful::cli::VerifyInclusion;
using eventful::cli::VerifyTreeHeadSignature;
using eventful::storage::Hash;
using eventful::storage::LeafHash;
using eventful::storage::MerkleRoot;
using eventful::storage::Sha256;
using eventful::storage::ToHex;

constexpr uint64_t kMaxLeaves = 40;

using Leaves = std::span<const Hash>;

std::vector<Hash> RandomLeaves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Hash> leaves(n);
  for (Hash& h : leaves) h = LeafHash("leaf " + std::to_string(rng()));
  return leaves;
}

// The largest power of two smaller than n (n > 1).
uint64_t SplitPoint(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 9162 §2.1.3.1: PATH(m, D[n]).
std::vector<Hash> ReferencePath(uint64_t m, Leaves d) {
  if (d.size() <= 1) return {};
  const uint64_t k = SplitPoint(d.size());
  std::vector<Hash> path;
  if (m < k) {
    path = ReferencePath(m, d.subspan(0, k));
    path.push_back(MerkleRoot(d.subspan(k)));
  } else {
    path = ReferencePath(m - k, d.subspan(k));
    path.push_back(MerkleRoot(d.subspan(0, k)));
  }
  return path;
}

// RFC 9162 §2.1.4.1: SUBPROOF(m, D[n], b).
std::vector<Hash> ReferenceSubproof(uint64_t m, Leaves d, bool b) {
  const uint64_t n = d.size();
  if (m == n) return b ? std::vector<Hash>{} : std::vector<Hash>{MerkleRoot(d)};
  const uint64_t k = SplitPoint(n);
  std::vector<Hash> proof;
  if (m <= k) {
    proof = ReferenceSubproof(m, d.subspan(0, k), b);
    proof.push_back(MerkleRoot(d.subspan(k)));
  } else {
    proof = ReferenceSubproof(m - k, d.subspan(k), false);
    proof.push_back(MerkleRoot(d.subspan(0, k)));
  }
  return proof;
}

// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
std::vector<Hash> ReferenceConsistency(uint64_t m, Leaves d) { return ReferenceSubproof(m, d, true); }

Hash Flipped(Hash h, size_t byte = 0) {
  h[byte % h.size()] ^= 0x01;
  return h;
}

Hash RootOf(Leaves all, uint64_t n) { return MerkleRoot(all.subspan(0, n)); }

}  // namespace

TEST_CASE("reference PATH and SUBPROOF reproduce the RFC 9162 proof sizes of the 7-leaf example") {
  // RFC 9162 §2.1.5: the audit path for d0 in the 7-leaf tree is [c, h, l] (3 hashes); the
  // consistency proofs 3→7, 4→7 and 6→7 have 4, 1 and 3 hashes.
  const std::vector<Hash> d = RandomLeaves(7, 7);
  CHECK(ReferencePath(0, d).size() == 3);
  CHECK(ReferenceConsistency(3, d).size() == 4);
  CHECK(ReferenceConsistency(4, d).size() == 1);
  CHECK(ReferenceConsistency(6, d).size() == 3);
}

TEST_CASE("every inclusion proof of trees of 1 to 40 leaves verifies") {
  const std::vector<Hash> all = RandomLeaves(kMaxLeaves, 1);
  for (uint64_t n = 1; n <= kMaxLeaves; ++n) {
    const Leaves d = Leaves(all).subspan(0, n);
    const Hash root = MerkleRoot(d);
    for (uint64_t i = 0; i < n; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      CHECK(VerifyInclusion(i, n, d[i], ReferencePath(i, d), root));
    }
  }
}

TEST_CASE("an inclusion proof fails with any path element flipped, or a wrong leaf, index, size or root") {
  const std::vector<Hash> all = RandomLeaves(kMaxLeaves + 1, 2);
  for (uint64_t n = 1; n <= kMaxLeaves; ++n) {
    const Leaves d = Leaves(all).subspan(0, n);
    const Hash root = MerkleRoot(d);
    for (uint64_t i = 0; i < n; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      const std::vector<Hash> path = ReferencePath(i, d);
      for (size_t j = 0; j < path.size(); ++j) {
        std::vector<Hash> bad = path;
        bad[j] = Flipped(bad[j], j);
        CHECK_FALSE(VerifyInclusion(i, n, d[i], bad, root));
      }
      CHECK_FALSE(VerifyInclusion(i, n, Flipped(d[i]), path, root));
      CHECK_FALSE(VerifyInclusion(i, n, d[i], path, Flipped(root, 31)));
      for (uint64_t other = 0; other < n + 2; ++other) {
        if (other != i) CHECK_FALSE(VerifyInclusion(other, n, d[i], path, root));
      }
      // A wrong size, checked against that size's real root.
      if (n > i + 1) CHECK_FALSE(VerifyInclusion(i, n - 1, d[i], path, RootOf(all, n - 1)));
      CHECK_FALSE(VerifyInclusion(i, n + 1, d[i], path, RootOf(all, n + 1)));
      // A path one element too long or too short.
      std::vector<Hash> longer = path;
      longer.push_back(root);
      CHECK_FALSE(VerifyInclusion(i, n, d[i], longer, root));
      if (!path.empty()) {
        CHECK_FALSE(VerifyInclusion(i, n, d[i], std::span<const Hash>(path).first(path.size() - 1), root));
      }
    }
  }
}

TEST_CASE("inclusion in an empty tree or past its end never verifies") {
  const Hash leaf = LeafHash("x");
  CHECK_FALSE(VerifyInclusion(0, 0, leaf, {}, eventful::storage::EmptyTreeHash()));
  CHECK_FALSE(VerifyInclusion(1, 1, leaf, {}, leaf));
  CHECK(VerifyInclusion(0, 1, leaf, {}, leaf));
}

TEST_CASE("every consistency proof between trees of 1 to 40 leaves verifies") {
  const std::vector<Hash> all = RandomLeaves(kMaxLeaves, 3);
  for (uint64_t n = 1; n <= kMaxLeaves; ++n) {
    const Leaves d = Leaves(all).subspan(0, n);
    for (uint64_t m = 1; m <= n; ++m) {
      CAPTURE(m);
      CAPTURE(n);
      CHECK(VerifyConsistency(m, n, RootOf(all, m), RootOf(all, n), ReferenceConsistency(m, d)));
    }
  }
}

TEST_CASE("a consistency proof fails with any element flipped, or a wrong size or root") {
  const std::vector<Hash> all = RandomLeaves(kMaxLeaves + 1, 4);
  for (uint64_t n = 1; n <= kMaxLeaves; ++n) {
    const Leaves d = Leaves(all).subspan(0, n);
    const Hash to_root = RootOf(all, n);
    for (uint64_t m = 1; m <= n; ++m) {
      CAPTURE(m);
      CAPTURE(n);
      const Hash from_root = RootOf(all, m);
      const std::vector<Hash> proof = ReferenceConsistency(m, d);
      for (size_t j = 0; j < proof.size(); ++j) {
        std::vector<Hash> bad = proof;
        bad[j] = Flipped(bad[j], j);
        CHECK_FALSE(VerifyConsistency(m, n, from_root, to_root, bad));
      }
      CHECK_FALSE(VerifyConsistency(m, n, Flipped(from_root), to_root, proof));
      CHECK_FALSE(VerifyConsistency(m, n, from_root, Flipped(to_root, 17), proof));
      // Sizes that do not match the proof, each with its own real root.
      if (m > 1) CHECK_FALSE(VerifyConsistency(m - 1, n, RootOf(all, m - 1), to_root, proof));
      if (m < n) CHECK_FALSE(VerifyConsistency(m + 1, n, RootOf(all, m + 1), to_root, proof));
      if (m < n) CHECK_FALSE(VerifyConsistency(m, n - 1, from_root, RootOf(all, n - 1), proof));
      CHECK_FALSE(VerifyConsistency(m, n + 1, from_root, RootOf(all, n + 1), proof));
      // A proof one element too long, or (between different sizes) empty.
      std::vector<Hash> longer = proof;
      longer.push_back(to_root);
      CHECK_FALSE(VerifyConsistency(m, n, from_root, to_root, longer));
      if (m < n) CHECK_FALSE(VerifyConsistency(m, n, from_root, to_root, {}));
    }
  }
}

TEST_CASE("consistency needs 1 <= from <= to") {
  const Hash h = LeafHash("x");
  CHECK_FALSE(VerifyConsistency(0, 1, eventful::storage::EmptyTreeHash(), h, {}));
  CHECK_FALSE(VerifyConsistency(2, 1, h, h, {}));
  CHECK(VerifyConsistency(1, 1, h, h, {}));
  CHECK_FALSE(VerifyConsistency(1, 1, h, Flipped(h), {}));
}

// ---- signed tree heads ----

namespace {

TreeHead SignedHead(std::optional<std::string> stream) {
  std::string public_hex;
  std::string sealed;
  const std::string dek = "evd_test-data-key-0123456789abcdefghijkl";
  REQUIRE(eventful::server::GenerateTreeheadKey(dek, &public_hex, &sealed).ok());
  eventful::server::TreeheadKey key;
  REQUIRE(eventful::server::OpenTreeheadKey(sealed, public_hex, dek, &key).ok());
  TreeHead head;
  head.stream = std::move(stream);
  head.tree_size = 7;
  head.root = ToHex(Sha256("root"));
  head.timestamp = "2026-11-23T10:00:00.123Z";
  head.public_key = public_hex;
  head.key_id = KeyIdOf(public_hex);
  REQUIRE(eventful::server::SignHex(key, TreeHeadMessage(head), &head.signature).ok());
  return head;
}

}  // namespace

TEST_CASE("the tree-head message is the JCS of root, stream, timestamp and tree_size") {
  TreeHead head;
  head.root = "ab";
  head.timestamp = "2026-11-23T10:00:00.123Z";
  head.tree_size = 7;
  CHECK(TreeHeadMessage(head) == R"({"root":"ab","timestamp":"2026-11-23T10:00:00.123Z","tree_size":7})");
  head.stream = "patient.42";
  CHECK(TreeHeadMessage(head) ==
        R"({"root":"ab","stream":"patient.42","timestamp":"2026-11-23T10:00:00.123Z","tree_size":7})");
}

TEST_CASE("the key id is the first 16 hex characters of SHA-256 of the raw public key") {
  const std::string key_hex(64, 'a');
  std::string raw(32, static_cast<char>(0xaa));
  CHECK(KeyIdOf(key_hex) == ToHex(Sha256(raw)).substr(0, 16));
  CHECK(KeyIdOf("abc").empty());
}

TEST_CASE("a tree head signed with the server's key verifies, for a stream and for the log") {
  for (const auto& stream : {std::optional<std::string>("patient.42"), std::optional<std::string>()}) {
    const TreeHead head = SignedHead(stream);
    std::string why;
    CHECK_MESSAGE(VerifyTreeHeadSignature(head, &why), why);
  }
}

TEST_CASE("a tree head with any signed field changed, or a foreign key or key id, fails") {
  const TreeHead good = SignedHead(std::string("patient.42"));
  std::string why;
  auto fails = [&](TreeHead h) {
    why.clear();
    const bool ok = VerifyTreeHeadSignature(h, &why);
    CHECK_FALSE(ok);
    CHECK_FALSE(why.empty());
  };
  TreeHead h = good;
  h.tree_size = 8;
  fails(h);
  h = good;
  h.root[0] = h.root[0] == '0' ? '1' : '0';
  fails(h);
  h = good;
  h.timestamp = "2026-11-23T10:00:00.124Z";
  fails(h);
  h = good;
  h.stream = "patient.43";
  fails(h);
  h = good;
  h.stream.reset();
  fails(h);
  h = good;
  h.signature[10] = h.signature[10] == '0' ? '1' : '0';
  fails(h);
  h = good;
  h.key_id = std::string(16, '0');
  fails(h);
  h = good;
  h.signature = "zz";
  fails(h);
  // Another key pair's public key (and its matching key id): the signature is not its.
  const TreeHead other = SignedHead(std::string("patient.42"));
  h = good;
  h.public_key = other.public_key;
  h.key_id = other.key_id;
  fails(h);
}
