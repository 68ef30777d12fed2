#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "server/treehead_key.h"

using namespace eventful::server;

namespace {

std::vector<unsigned char> Unhex(const std::string& h) {
  std::vector<unsigned char> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<unsigned char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

bool VerifyWithOpenSsl(const std::string& public_hex, const std::string& message, const std::string& sig_hex) {
  const auto pub = Unhex(public_hex);
  const auto sig = Unhex(sig_hex);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()), EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return key && md && EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(md.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace

TEST_CASE("a generated tree-head key opens with its DEK and signs verifiably") {
  std::string pub, sealed;
  REQUIRE(GenerateTreeheadKey("evd_secret", &pub, &sealed).ok());
  CHECK(pub.size() == 64);
  CHECK(pub.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(sealed.rfind("aes256gcm$", 0) == 0);
  TreeheadKey key;
  REQUIRE(OpenTreeheadKey(sealed, pub, "evd_secret", &key).ok());
  CHECK(key.public_hex == pub);
  std::string sig;
  REQUIRE(SignHex(key, R"({"root":"ab","timestamp":"t","tree_size":1})", &sig).ok());
  CHECK(sig.size() == 128);
  CHECK(VerifyWithOpenSsl(pub, R"({"root":"ab","timestamp":"t","tree_size":1})", sig));
  CHECK_FALSE(VerifyWithOpenSsl(pub, R"({"root":"ac","timestamp":"t","tree_size":1})", sig));
}

TEST_CASE("a tree-head key does not open with another DEK, a tampered seal or a foreign public key") {
  std::string pub, sealed, other_pub, other_sealed;
  REQUIRE(GenerateTreeheadKey("evd_secret", &pub, &sealed).ok());
  REQUIRE(GenerateTreeheadKey("evd_secret", &other_pub, &other_sealed).ok());
  TreeheadKey key;
  CHECK_FALSE(OpenTreeheadKey(sealed, pub, "evd_wrong", &key).ok());
  std::string tampered = sealed;
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
  CHECK_FALSE(OpenTreeheadKey(tampered, pub, "evd_secret", &key).ok());
  CHECK_FALSE(OpenTreeheadKey(sealed, other_pub, "evd_secret", &key).ok());
  CHECK_FALSE(OpenTreeheadKey("garbage", pub, "evd_secret", &key).ok());
}
