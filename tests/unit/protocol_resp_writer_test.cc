#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "protocol/resp_writer.h"

namespace eventful::protocol {
namespace {

using namespace std::string_literals;

// The raw bytes one call writes under RESP2 and under RESP3.
std::string Write2(const std::function<void(ReplyWriter&)>& write) {
  std::string out;
  ReplyWriter w(&out, 2);
  write(w);
  return out;
}

std::string Write3(const std::function<void(ReplyWriter&)>& write) {
  std::string out;
  ReplyWriter w(&out, 3);
  write(w);
  return out;
}

TEST_CASE("reply writer writes simple strings and strips line breaks") {
  auto ok = [](ReplyWriter& w) { w.Simple("OK"); };
  CHECK(Write2(ok) == "+OK\r\n");
  CHECK(Write3(ok) == "+OK\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Simple("a\r\nb\nc"); }) == "+a  b c\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Simple(""); }) == "+\r\n");
}

TEST_CASE("reply writer writes an error that carries its own code as it is") {
  auto conflict = [](ReplyWriter& w) { w.Error("CONFLICT expected version 3, stream is at 4"); };
  CHECK(Write2(conflict) == "-CONFLICT expected version 3, stream is at 4\r\n");
  CHECK(Write3(conflict) == "-CONFLICT expected version 3, stream is at 4\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error("ERR unknown command 'FOO'"); }) ==
        "-ERR unknown command 'FOO'\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error("NOAUTH"); }) == "-NOAUTH\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error("-WRONGPASS invalid secret"); }) ==
        "-WRONGPASS invalid secret\r\n");
}

TEST_CASE("reply writer puts ERR before an error without a code") {
  CHECK(Write2([](ReplyWriter& w) { w.Error("Protocol error: invalid bulk length"); }) ==
        "-ERR Protocol error: invalid bulk length\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error("no such stream"); }) == "-ERR no such stream\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error("A thing"); }) == "-ERR A thing\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Error(""); }) == "-ERR\r\n");
}

TEST_CASE("reply writer replaces line breaks in errors with spaces") {
  CHECK(Write3([](ReplyWriter& w) { w.Error("INVALID bad\r\nfield\n"); }) ==
        "-INVALID bad  field \r\n");
}

TEST_CASE("reply writer writes integers") {
  CHECK(Write2([](ReplyWriter& w) { w.Integer(0); }) == ":0\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Integer(42); }) == ":42\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Integer(-7); }) == ":-7\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Integer(INT64_MIN); }) == ":-9223372036854775808\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Integer(INT64_MAX); }) == ":9223372036854775807\r\n");
}

TEST_CASE("reply writer writes bulk strings with binary content") {
  auto bulk = [](ReplyWriter& w) { w.Bulk("{\"a\":1}"); };
  CHECK(Write2(bulk) == "$7\r\n{\"a\":1}\r\n");
  CHECK(Write3(bulk) == "$7\r\n{\"a\":1}\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Bulk(""); }) == "$0\r\n\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Bulk("a\r\n\0b"s); }) == "$5\r\na\r\n\0b\r\n"s);
}

TEST_CASE("reply writer writes nulls per protocol version") {
  CHECK(Write2([](ReplyWriter& w) { w.Null(); }) == "$-1\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Null(); }) == "_\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.NullArray(); }) == "*-1\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.NullArray(); }) == "_\r\n");
}

TEST_CASE("reply writer writes aggregate headers per protocol version") {
  CHECK(Write2([](ReplyWriter& w) { w.Array(3); }) == "*3\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Array(0); }) == "*0\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Map(2); }) == "*4\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Map(2); }) == "%2\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Set(5); }) == "*5\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Set(5); }) == "~5\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Push(3); }) == "*3\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Push(3); }) == ">3\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Array(18446744073709551615u); }) ==
        "*18446744073709551615\r\n");
}

TEST_CASE("reply writer writes booleans per protocol version") {
  CHECK(Write2([](ReplyWriter& w) { w.Bool(true); }) == ":1\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Bool(false); }) == ":0\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Bool(true); }) == "#t\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Bool(false); }) == "#f\r\n");
}

TEST_CASE("reply writer writes doubles as shortest round-trip text") {
  CHECK(Write3([](ReplyWriter& w) { w.Double(1.5); }) == ",1.5\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Double(0.1); }) == ",0.1\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Double(3); }) == ",3\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Double(-2.25); }) == ",-2.25\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Double(1e300); }) == ",1e+300\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Double(1.5); }) == "$3\r\n1.5\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Double(0.1); }) == "$3\r\n0.1\r\n");
}

TEST_CASE("reply writer writes infinities and nan by name") {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(Write3([&](ReplyWriter& w) { w.Double(inf); }) == ",inf\r\n");
  CHECK(Write3([&](ReplyWriter& w) { w.Double(-inf); }) == ",-inf\r\n");
  CHECK(Write3([&](ReplyWriter& w) { w.Double(nan); }) == ",nan\r\n");
  CHECK(Write3([&](ReplyWriter& w) { w.Double(-nan); }) == ",nan\r\n");
  CHECK(Write2([&](ReplyWriter& w) { w.Double(inf); }) == "$3\r\ninf\r\n");
  CHECK(Write2([&](ReplyWriter& w) { w.Double(-inf); }) == "$4\r\n-inf\r\n");
  CHECK(Write2([&](ReplyWriter& w) { w.Double(nan); }) == "$3\r\nnan\r\n");
}

TEST_CASE("reply writer writes verbatim strings per protocol version") {
  CHECK(Write3([](ReplyWriter& w) { w.Verbatim("# Eventful\r\nevents:3\r\n"); }) ==
        "=26\r\ntxt:# Eventful\r\nevents:3\r\n\r\n");
  CHECK(Write3([](ReplyWriter& w) { w.Verbatim(""); }) == "=4\r\ntxt:\r\n");
  CHECK(Write2([](ReplyWriter& w) { w.Verbatim("# Eventful\r\nevents:3\r\n"); }) ==
        "$22\r\n# Eventful\r\nevents:3\r\n\r\n");
}

TEST_CASE("reply writer appends to the buffer and follows a protocol switch") {
  std::string out = "+PONG\r\n";
  ReplyWriter w(&out, 2);
  CHECK(w.resp() == 2);
  w.Map(1);
  w.Bulk("k");
  w.Null();
  w.set_resp(3);
  CHECK(w.resp() == 3);
  w.Map(1);
  w.Bulk("k");
  w.Null();
  CHECK(out == "+PONG\r\n*2\r\n$1\r\nk\r\n$-1\r\n%1\r\n$1\r\nk\r\n_\r\n");
}

}  // namespace
}  // namespace eventful::protocol
