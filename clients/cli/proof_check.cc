#include "clients/cli/proof_check.h"

#include <openssl/evp.h>

#include <cctype>
#include <memory>
#include <vector>

#include "storage/json_text.h"

namespace eventful::cli {
namespace {

using storage::NodeHash;

bool Lsb(uint64_t x) { return (x & 1) != 0; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly `size` bytes as 2*size hex characters (either case).
bool DecodeHex(std::string_view hex, size_t size, std::vector<uint8_t>* out) {
  if (hex.size() != 2 * size) return false;
  out->resize(size);
  for (size_t i = 0; i < size; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

bool VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                     std::span<const Hash> path, const Hash& root) {
  // §2.1.3.2 step 1.
  if (leaf_index >= tree_size) return false;
  // Steps 2-3.
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  // Step 4.
  for (const Hash& p : path) {
    if (sn == 0) return false;  // 4a: the path is longer than the tree is deep
    if (Lsb(fn) || fn == sn) {  // 4b: p is a left sibling
      r = NodeHash(p, r);
      if (!Lsb(fn)) {  // fn == sn: climb past the levels where this node has no right sibling
        while (!Lsb(fn) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {  // p is a right sibling
      r = NodeHash(r, p);
    }
    fn >>= 1;  // 4c
    sn >>= 1;
  }
  // Step 5.
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t from, uint64_t to, const Hash& from_root, const Hash& to_root,
                       std::span<const Hash> path) {
  if (from < 1 || from > to) return false;
  if (from == to) return path.empty() && from_root == to_root;
  // §2.1.4.2 step 1.
  if (path.empty()) return false;
  // Step 2: when `from` is a power of two, the old tree is itself a node of the new one and the
  // proof leaves its root out.
  std::vector<Hash> proof;
  proof.reserve(path.size() + 1);
  if ((from & (from - 1)) == 0) proof.push_back(from_root);
  proof.insert(proof.end(), path.begin(), path.end());
  // Steps 3-4.
  uint64_t fn = from - 1;
  uint64_t sn = to - 1;
  while (Lsb(fn)) {
    fn >>= 1;
    sn >>= 1;
  }
  // Step 5.
  Hash fr = proof[0];
  Hash sr = proof[0];
  // Step 6.
  for (size_t i = 1; i < proof.size(); ++i) {
    const Hash& c = proof[i];
    if (sn == 0) return false;  // 6a
    if (Lsb(fn) || fn == sn) {  // 6b
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if (!Lsb(fn)) {
        while (!Lsb(fn) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;  // 6c
    sn >>= 1;
  }
  // Step 7.
  return fr == from_root && sr == to_root && sn == 0;
}

std::string TreeHeadMessage(const TreeHead& head) {
  std::string out = "{\"root\":";
  storage::AppendJsonString(&out, head.root);
  if (head.stream) {
    out += ",\"stream\":";
    storage::AppendJsonString(&out, *head.stream);
  }
  out += ",\"timestamp\":";
  storage::AppendJsonString(&out, head.timestamp);
  out += ",\"tree_size\":" + std::to_string(head.tree_size) + "}";
  return out;
}

std::string KeyIdOf(std::string_view public_key_hex) {
  std::vector<uint8_t> raw;
  if (!DecodeHex(public_key_hex, 32, &raw)) return "";
  const Hash digest = storage::Sha256(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  return storage::ToHex(digest).substr(0, 16);
}

bool VerifyTreeHeadSignature(const TreeHead& head, std::string* why) {
  std::vector<uint8_t> key;
  std::vector<uint8_t> signature;
  if (!DecodeHex(head.public_key, 32, &key)) {
    *why = "the public key is not 32 bytes of hex";
    return false;
  }
  if (!DecodeHex(head.signature, 64, &signature)) {
    *why = "the signature is not 64 bytes of hex";
    return false;
  }
  if (!EqualsIgnoringCase(KeyIdOf(head.public_key), head.key_id)) {
    *why = "key_id " + head.key_id + " does not belong to the public key (expected " + KeyIdOf(head.public_key) + ")";
    return false;
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (pkey == nullptr || ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    *why = "cannot load the Ed25519 public key";
    return false;
  }
  const std::string message = TreeHeadMessage(head);
  // Ed25519 is one-shot: EVP_DigestVerify, not Update/Final. 1 = valid, 0 = invalid, <0 = error.
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) {
    *why = "the Ed25519 signature does not match the tree head";
    return false;
  }
  return true;
}

}  // namespace eventful::cli
