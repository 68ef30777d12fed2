// Token records, permissions and the token table (storage/token.h; issue 4, PROTOCOL.md §8 Tokens).
#include <doctest/doctest.h>

#include <string>

#include "storage/append.h"
#include "storage/token.h"

namespace {

using eventful::storage::DecodeToken;
using eventful::storage::EncodeToken;
using eventful::storage::Permissions;
using eventful::storage::StagedTokens;
using eventful::storage::TokenPublicJson;
using eventful::storage::TokenRecord;
using eventful::storage::TokenTable;

Permissions Perms(std::vector<std::string> read, std::vector<std::string> write, bool admin = false) {
  Permissions p;
  p.read = std::move(read);
  p.write = std::move(write);
  p.admin = admin;
  return p;
}

TokenRecord SampleToken() {
  TokenRecord t;
  t.kind = TokenRecord::Kind::kToken;
  t.id = "tok_01JD3Y4Z5Q8X2N7M6K4H3G2F1E";
  t.identifier_type = "npi";
  t.identifier_id = "1234567";
  t.permissions = Perms({"patient.>", "ward.*"}, {"patient.42"});
  t.expires_at_ms = 1'790'000'000'123;
  t.limit = 100;
  t.writes_used = 7;
  t.minted_by = "patient-app";
  t.minted_by_id = "key_abc";
  t.revoked = true;
  t.created_at_ms = 1'780'000'000'000;
  t.secret_hash = std::string(64, 'a');
  return t;
}

TokenRecord SampleAuthKey() {
  TokenRecord k;
  k.kind = TokenRecord::Kind::kAuthKey;
  k.id = "key_abc";
  k.name = "patient-app";
  k.permissions = Perms({">"}, {"patient.>"}, true);
  k.minted_by = "master";
  k.created_at_ms = 1'780'000'000'000;
  k.secret_hash = std::string(64, 'b');
  return k;
}

void CheckSameRecord(const TokenRecord& a, const TokenRecord& b) {
  CHECK(a.kind == b.kind);
  CHECK(a.id == b.id);
  CHECK(a.name == b.name);
  CHECK(a.identifier_type == b.identifier_type);
  CHECK(a.identifier_id == b.identifier_id);
  CHECK(a.permissions == b.permissions);
  CHECK(a.expires_at_ms == b.expires_at_ms);
  CHECK(a.limit == b.limit);
  CHECK(a.writes_used == b.writes_used);
  CHECK(a.minted_by == b.minted_by);
  CHECK(a.minted_by_id == b.minted_by_id);
  CHECK(a.revoked == b.revoked);
  CHECK(a.created_at_ms == b.created_at_ms);
  CHECK(a.secret_hash == b.secret_hash);
}

}  // namespace

TEST_CASE("token records survive EncodeToken and DecodeToken unchanged") {
  for (const TokenRecord& t : {SampleToken(), SampleAuthKey(), TokenRecord{}}) {
    const std::string json = EncodeToken(t);
    TokenRecord back;
    REQUIRE_MESSAGE(DecodeToken(json, &back), json);
    CheckSameRecord(back, t);
    CHECK(EncodeToken(back) == json);
  }
}

TEST_CASE("token records with awkward strings survive the round trip") {
  TokenRecord t = SampleToken();
  t.identifier_id = "caf\xC3\xA9 \"quoted\" \\ back\nslash";
  t.minted_by = "\x01\x1f";
  t.permissions = Perms({}, {});
  t.writes_used = UINT64_MAX;
  t.limit = UINT64_MAX;
  t.expires_at_ms = -5;
  TokenRecord back;
  REQUIRE(DecodeToken(EncodeToken(t), &back));
  CheckSameRecord(back, t);
}

TEST_CASE("DecodeToken rejects records that are not whole token records") {
  TokenRecord out;
  CHECK_FALSE(DecodeToken("", &out));
  CHECK_FALSE(DecodeToken("not json", &out));
  CHECK_FALSE(DecodeToken("[]", &out));
  CHECK_FALSE(DecodeToken("{}", &out));
  std::string json = EncodeToken(SampleToken());
  // An unknown kind.
  std::string bad_kind = json;
  bad_kind.replace(bad_kind.find("\"token\""), 7, "\"robot\"");
  CHECK_FALSE(DecodeToken(bad_kind, &out));
  // A field of the wrong type.
  std::string bad_limit = json;
  bad_limit.replace(bad_limit.find("\"limit\":100"), 11, "\"limit\":\"100\"");
  CHECK_FALSE(DecodeToken(bad_limit, &out));
  // A missing field.
  std::string no_hash = json.substr(0, json.find(",\"secret_hash\"")) + "}";
  CHECK_FALSE(DecodeToken(no_hash, &out));
}

TEST_CASE("the public view of a token never holds its secret hash") {
  for (const TokenRecord& t : {SampleToken(), SampleAuthKey()}) {
    const std::string json = TokenPublicJson(t);
    CHECK(json.find("secret_hash") == std::string::npos);
    CHECK(json.find(t.secret_hash) == std::string::npos);
    CHECK(json.find("\"actor\":\"" + t.Actor() + "\"") != std::string::npos);
  }
}

TEST_CASE("the actor of a token is its identity and the actor of an auth key is key:<name>") {
  CHECK(SampleToken().Actor() == "npi:1234567");
  CHECK(SampleAuthKey().Actor() == "key:patient-app");
}

TEST_CASE("a token expires at its expiry instant and an expiry of 0 never expires") {
  TokenRecord t = SampleToken();
  CHECK_FALSE(t.Expired(t.expires_at_ms - 1));
  CHECK(t.Expired(t.expires_at_ms));
  CHECK(t.Expired(t.expires_at_ms + 1));
  CHECK_FALSE(SampleAuthKey().Expired(INT64_MAX));
}

TEST_CASE("token permissions: CanRead and CanWrite follow the read and write patterns") {
  const Permissions p = Perms({"patient.>", "ward.*"}, {"patient.42"});
  CHECK(p.CanRead("patient.42"));
  CHECK(p.CanRead("patient.42.x"));
  CHECK(p.CanRead("ward.3"));
  CHECK_FALSE(p.CanRead("ward.3.bed"));
  CHECK_FALSE(p.CanRead("patient"));
  CHECK_FALSE(p.CanRead("order.1"));
  CHECK(p.CanWrite("patient.42"));
  CHECK_FALSE(p.CanWrite("patient.43"));
  CHECK_FALSE(p.CanWrite("ward.3"));  // read rights do not grant writes
  const Permissions write_only = Perms({}, {"patient.>"});
  CHECK(write_only.CanWrite("patient.1"));
  CHECK_FALSE(write_only.CanRead("patient.1"));  // write rights do not grant reads
  CHECK_FALSE(Permissions{}.CanRead("patient.42"));
  CHECK_FALSE(Permissions{}.CanWrite("patient.42"));
}

TEST_CASE("token permissions: system streams are read only with admin rights and written by nobody") {
  const Permissions everything = Perms({">"}, {">"});
  CHECK(everything.CanRead("patient.42"));
  CHECK_FALSE(everything.CanRead("$audit"));
  CHECK_FALSE(everything.CanWrite("$audit"));
  const Permissions star = Perms({"*", "*.>"}, {"*"});
  CHECK_FALSE(star.CanRead("$audit"));
  CHECK_FALSE(star.CanWrite("$audit"));
  // An exact system name in the read list is not enough without admin.
  const Permissions exact = Perms({"$audit"}, {"$audit"});
  CHECK_FALSE(exact.CanRead("$audit"));
  CHECK_FALSE(exact.CanWrite("$audit"));
  const Permissions admin = Perms({}, {}, true);
  CHECK(admin.CanRead("$audit"));
  CHECK_FALSE(admin.CanWrite("$audit"));
  const Permissions admin_all = Perms({">"}, {">", "$audit"}, true);
  CHECK(admin_all.CanRead("$audit"));
  CHECK_FALSE(admin_all.CanWrite("$audit"));
}

TEST_CASE("token permissions: ReadsAll needs a read pattern of >") {
  CHECK(Perms({">"}, {}).ReadsAll());
  CHECK(Perms({"patient.>", ">"}, {}).ReadsAll());
  CHECK_FALSE(Perms({"patient.>"}, {}).ReadsAll());
  CHECK_FALSE(Perms({"*"}, {}).ReadsAll());
  CHECK_FALSE(Perms({}, {">"}).ReadsAll());
}

TEST_CASE("token permissions: Covers: > covers every pattern") {
  const Permissions all = Perms({">"}, {">"});
  for (const char* p : {">", "patient", "patient.42", "patient.*", "patient.>", "*", "*.>", "a.b.c.d"}) {
    CAPTURE(p);
    CHECK(all.Covers(Perms({p}, {p})));
  }
  CHECK(all.Covers(Permissions{}));
}

TEST_CASE("token permissions: Covers: patient.> covers patient.42 and patient.*.x but not patient or >") {
  const Permissions p = Perms({"patient.>"}, {"patient.>"});
  for (const char* inner : {"patient.42", "patient.*.x", "patient.*", "patient.>", "patient.42.>", "patient.a.b.c"}) {
    CAPTURE(inner);
    CHECK(p.Covers(Perms({inner}, {})));
    CHECK(p.Covers(Perms({}, {inner})));
  }
  for (const char* inner : {"patient", ">", "*", "*.42", "*.>", "order.1", "patientx.1"}) {
    CAPTURE(inner);
    CHECK_FALSE(p.Covers(Perms({inner}, {})));
    CHECK_FALSE(p.Covers(Perms({}, {inner})));
  }
}

TEST_CASE("token permissions: Covers: * covers single tokens only, and a literal covers only itself") {
  const Permissions star = Perms({"*"}, {});
  CHECK(star.Covers(Perms({"patient"}, {})));
  CHECK(star.Covers(Perms({"*"}, {})));
  CHECK_FALSE(star.Covers(Perms({"patient.42"}, {})));
  CHECK_FALSE(star.Covers(Perms({">"}, {})));
  CHECK_FALSE(star.Covers(Perms({"$audit"}, {})));  // wildcards never match system streams

  const Permissions star_tail = Perms({"patient.*"}, {});
  CHECK(star_tail.Covers(Perms({"patient.42"}, {})));
  CHECK(star_tail.Covers(Perms({"patient.*"}, {})));
  CHECK_FALSE(star_tail.Covers(Perms({"patient.>"}, {})));
  CHECK_FALSE(star_tail.Covers(Perms({"patient.42.x"}, {})));

  const Permissions literal = Perms({"patient.42"}, {});
  CHECK(literal.Covers(Perms({"patient.42"}, {})));
  CHECK_FALSE(literal.Covers(Perms({"patient.43"}, {})));
  CHECK_FALSE(literal.Covers(Perms({"patient.*"}, {})));
  CHECK_FALSE(literal.Covers(Perms({"patient.>"}, {})));
  CHECK_FALSE(literal.Covers(Perms({"patient"}, {})));
  CHECK_FALSE(literal.Covers(Perms({"patient.42.x"}, {})));
}

TEST_CASE("token permissions: Covers checks reads and writes separately, every pattern, and admin") {
  const Permissions reader = Perms({">"}, {});
  CHECK(reader.Covers(Perms({"patient.42"}, {})));
  CHECK_FALSE(reader.Covers(Perms({}, {"patient.42"})));  // reading does not cover writing

  const Permissions two = Perms({"patient.>", "ward.*"}, {});
  CHECK(two.Covers(Perms({"patient.1", "ward.2"}, {})));
  CHECK_FALSE(two.Covers(Perms({"patient.1", "order.2"}, {})));  // one uncovered pattern is enough

  CHECK_FALSE(Perms({">"}, {">"}).Covers(Perms({}, {}, true)));
  CHECK(Perms({">"}, {">"}, true).Covers(Perms({"patient.>"}, {}, true)));
  CHECK(Perms({}, {}, true).Covers(Perms({}, {}, false)));
  // Admin rights do not widen patterns: an admin with no patterns covers no patterns.
  CHECK_FALSE(Perms({}, {}, true).Covers(Perms({"patient.42"}, {})));
  CHECK(Permissions{}.Covers(Permissions{}));
}

TEST_CASE("the token table finds records by id, by secret hash and auth keys by name") {
  TokenTable table;
  const TokenRecord key = SampleAuthKey();
  TokenRecord tok = SampleToken();
  tok.revoked = false;
  table.Put(key);
  table.Put(tok);

  REQUIRE(table.Find(tok.id) != nullptr);
  CHECK(table.Find(tok.id)->identifier_id == "1234567");
  REQUIRE(table.Find(key.id) != nullptr);
  CHECK(table.Find(key.id)->name == "patient-app");
  CHECK(table.Find("tok_nope") == nullptr);

  REQUIRE(table.FindBySecretHash(tok.secret_hash) != nullptr);
  CHECK(table.FindBySecretHash(tok.secret_hash)->id == tok.id);
  REQUIRE(table.FindBySecretHash(key.secret_hash) != nullptr);
  CHECK(table.FindBySecretHash(key.secret_hash)->id == key.id);
  CHECK(table.FindBySecretHash(std::string(64, 'c')) == nullptr);

  REQUIRE(table.FindAuthKeyByName("patient-app") != nullptr);
  CHECK(table.FindAuthKeyByName("patient-app")->id == key.id);
  CHECK(table.FindAuthKeyByName("npi:1234567") == nullptr);
  CHECK(table.FindAuthKeyByName("") == nullptr);  // tokens have no name and are not auth keys
  CHECK(table.all().size() == 2);
}

TEST_CASE("putting a token record with a known id replaces it everywhere it is found") {
  TokenTable table;
  TokenRecord tok = SampleToken();
  tok.revoked = false;
  tok.writes_used = 1;
  table.Put(tok);
  tok.revoked = true;
  tok.writes_used = 5;
  table.Put(tok);
  CHECK(table.all().size() == 1);
  REQUIRE(table.Find(tok.id) != nullptr);
  CHECK(table.Find(tok.id)->revoked);
  CHECK(table.Find(tok.id)->writes_used == 5);
  REQUIRE(table.FindBySecretHash(tok.secret_hash) != nullptr);
  CHECK(table.FindBySecretHash(tok.secret_hash)->revoked);
}

TEST_CASE("staged token changes overlay the committed table without changing it") {
  TokenTable committed;
  TokenRecord tok = SampleToken();
  tok.revoked = false;
  committed.Put(tok);
  committed.Put(SampleAuthKey());

  StagedTokens group(committed, nullptr);
  TokenRecord changed = tok;
  changed.writes_used = 9;
  group.Put(changed);
  StagedTokens job(committed, &group);
  REQUIRE(job.Find(tok.id).has_value());
  CHECK(job.Find(tok.id)->writes_used == 9);  // sees the group's earlier change
  CHECK(job.FindBySecretHash(tok.secret_hash)->writes_used == 9);
  CHECK(job.FindAuthKeyByName("patient-app").has_value());
  CHECK_FALSE(job.Find("tok_nope").has_value());

  TokenRecord fresh = SampleToken();
  fresh.id = "tok_fresh";
  fresh.secret_hash = std::string(64, 'd');
  job.Put(fresh);
  CHECK(job.Find("tok_fresh").has_value());
  CHECK(job.FindBySecretHash(std::string(64, 'd')).has_value());
  CHECK_FALSE(group.Find("tok_fresh").has_value());
  int count = 0;
  job.ForEach([&](const TokenRecord&) { ++count; });
  CHECK(count == 3);

  CHECK(committed.Find(tok.id)->writes_used == 7);  // the committed table is untouched
  CHECK(committed.Find("tok_fresh") == nullptr);
}
