#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp_parser.h"

namespace eventful::protocol {
namespace {

using Args = std::vector<std::string>;
using namespace std::string_literals;

// What a connection sees after feeding some bytes: the commands parsed, then how it stopped.
struct Run {
  std::vector<Args> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  std::string leftover;  // bytes kept for the next read (kNeedMore)

  bool operator==(const Run&) const = default;
};

// Parses `buffer` the way a connection does: take commands until kNeedMore or kError, dropping
// `consumed` bytes each time (also on kNeedMore). Appends to `run`.
void Drain(std::string* buffer, const Limits& limits, Run* run) {
  Command cmd;
  while (true) {
    ParseResult r = Parse(*buffer, limits, &cmd);
    REQUIRE(r.consumed <= buffer->size());
    if (r.status == ParseStatus::kComplete) {
      REQUIRE(r.consumed > 0);
      REQUIRE(!cmd.argv.empty());
      run->commands.emplace_back(cmd.argv.begin(), cmd.argv.end());
      buffer->erase(0, r.consumed);
      continue;
    }
    run->last = r.status;
    if (r.status == ParseStatus::kError) {
      run->error = r.error;
      run->leftover.clear();
      return;
    }
    CHECK(cmd.argv.empty());
    buffer->erase(0, r.consumed);
    run->leftover = *buffer;
    return;
  }
}

Run ParseAll(std::string_view input, const Limits& limits = {}) {
  std::string buffer(input);
  Run run;
  Drain(&buffer, limits, &run);
  return run;
}

// Feeds input[0, split) first, then the rest, as two reads.
Run ParseSplit(std::string_view input, std::size_t split, const Limits& limits = {}) {
  std::string buffer(input.substr(0, split));
  Run run;
  Drain(&buffer, limits, &run);
  if (run.last == ParseStatus::kError) return run;
  run.last = ParseStatus::kNeedMore;
  run.leftover.clear();
  buffer.append(input.substr(split));
  Drain(&buffer, limits, &run);
  return run;
}

// Checks that splitting `input` at every byte boundary gives the same result as one read.
void CheckEverySplit(std::string_view input, const Limits& limits = {}) {
  const Run whole = ParseAll(input, limits);
  for (std::size_t split = 0; split <= input.size(); ++split) {
    CAPTURE(split);
    const Run parts = ParseSplit(input, split, limits);
    CHECK(parts.commands == whole.commands);
    CHECK(parts.last == whole.last);
    CHECK(parts.error == whole.error);
    CHECK(parts.leftover == whole.leftover);
  }
  // Byte by byte, as a slow client would send it.
  std::string buffer;
  Run slow;
  for (char c : input) {
    buffer.push_back(c);
    slow.last = ParseStatus::kNeedMore;
    Drain(&buffer, limits, &slow);
    if (slow.last == ParseStatus::kError) break;
  }
  CHECK(slow == whole);
}

// Parses one complete command and returns it; fails the test otherwise.
Args One(std::string_view input, const Limits& limits = {}) {
  Command cmd;
  ParseResult r = Parse(input, limits, &cmd);
  INFO("input: ", std::string(input), " error: ", r.error);
  REQUIRE(r.status == ParseStatus::kComplete);
  CHECK(r.consumed == input.size());
  return Args(cmd.argv.begin(), cmd.argv.end());
}

std::string ErrorOf(std::string_view input, const Limits& limits = {}) {
  Command cmd;
  ParseResult r = Parse(input, limits, &cmd);
  INFO("input: ", std::string(input));
  REQUIRE(r.status == ParseStatus::kError);
  CHECK(cmd.argv.empty());
  return r.error;
}

ParseStatus StatusOf(std::string_view input, const Limits& limits = {}) {
  Command cmd;
  return Parse(input, limits, &cmd).status;
}

std::string Bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string Multibulk(const Args& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += Bulk(a);
  return out;
}

const std::vector<std::string> kSamples = {
    "*1\r\n$4\r\nPING\r\n",
    "*3\r\n$3\r\nADD\r\n$8\r\npatient1\r\n$14\r\n{\"type\":\"A\"}\r\n\r\n",
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nAUTH\r\n$4\r\na\r\nb\r\n",
    "*1\r\n$3\r\na\0b\r\n"s,
    "PING\r\n",
    "ping\n",
    "SET \"a b\" 'c d'\r\n",
    "ADD \"{\\\"type\\\":\\\"x\\\"}\" '{\"k\":1}' \"\\x41\\n\\r\\t\\b\\a\\\\\"\r\n",
    "ECHO 'it\\'s' \"\\xZZ\" foo\"bar baz\"\r\n",
    "\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n",
    "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO \"hi there\"\n*1\r\n$4\r\nQUIT\r\n",
};

TEST_CASE("resp parser reads a multibulk command as views into the input") {
  const std::string input = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  Command cmd;
  ParseResult r = Parse(input, {}, &cmd);
  REQUIRE(r.status == ParseStatus::kComplete);
  CHECK(r.consumed == input.size());
  REQUIRE(cmd.argv.size() == 3);
  CHECK(cmd.argv[0] == "SET");
  CHECK(cmd.argv[1] == "key");
  CHECK(cmd.argv[2] == "value");
  CHECK(cmd.owned.empty());
  for (auto a : cmd.argv) {
    CHECK(a.data() >= input.data());
    CHECK(a.data() + a.size() <= input.data() + input.size());
  }
}

TEST_CASE("resp parser keeps binary bytes and empty bulks intact") {
  const std::string nul = "a\0b\r\nc"s;
  CHECK(One(Multibulk({"ECHO", nul, ""})) == Args{"ECHO", nul, ""});
}

TEST_CASE("resp parser consumes only the first of several pipelined commands") {
  const std::string a = Multibulk({"PING"});
  const std::string b = Multibulk({"ECHO", "x"});
  const std::string input = a + b;
  Command cmd;
  ParseResult r = Parse(input, {}, &cmd);
  REQUIRE(r.status == ParseStatus::kComplete);
  CHECK(r.consumed == a.size());
  CHECK(Args(cmd.argv.begin(), cmd.argv.end()) == Args{"PING"});
  CHECK(ParseAll(a + b + "PING\r\n" + a).commands ==
        std::vector<Args>{{"PING"}, {"ECHO", "x"}, {"PING"}, {"PING"}});
}

TEST_CASE("resp parser reads a pipelined mix of multibulk and inline commands") {
  const Run run = ParseAll(kSamples.back());
  CHECK(run.commands == std::vector<Args>{{"PING"}, {"PING"}, {"ECHO", "hi"}, {"ECHO", "hi there"},
                                          {"QUIT"}});
  CHECK(run.last == ParseStatus::kNeedMore);
  CHECK(run.leftover.empty());
  CHECK(ParseAll(kSamples[2]).commands ==
        std::vector<Args>{{"GET", ""}, {"PING"}, {"AUTH", "a\r\nb"}});
}

TEST_CASE("resp parser asks for more on every incomplete prefix of a command") {
  const std::string input = Multibulk({"ADD", "stream", "{\"a\":1}"});
  for (std::size_t n = 0; n < input.size(); ++n) {
    CAPTURE(n);
    Command cmd;
    ParseResult r = Parse(std::string_view(input).substr(0, n), {}, &cmd);
    CHECK(r.status == ParseStatus::kNeedMore);
    CHECK(r.consumed == 0);
    CHECK(cmd.argv.empty());
  }
}

TEST_CASE("resp parser gives the same commands for every sample split at every byte boundary") {
  for (const auto& sample : kSamples) {
    CAPTURE(sample);
    const Run whole = ParseAll(sample);
    CHECK(whole.last == ParseStatus::kNeedMore);
    CHECK(whole.leftover.empty());
    CHECK(!whole.commands.empty());
    CheckEverySplit(sample);
  }
}

TEST_CASE("resp parser gives the same errors for bad inputs split at every byte boundary") {
  const std::vector<std::string> bad = {
      "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n:5\r\n",
      "*1\r\n$4\r\nPINGxx",
      "PING\r\nSET \"a\"b\r\n",
      "*1\r\n$-3\r\n",
      "*2x\r\n",
      "*1\r\n$3\r\nabc\rX",
      "*1\r\n$3\rX",
  };
  for (const auto& input : bad) {
    CAPTURE(input);
    CHECK(ParseAll(input).last == ParseStatus::kError);
    CheckEverySplit(input);
  }
  Limits small;
  small.max_inline = 8;
  small.max_args = 2;
  small.max_bulk = 3;
  for (const std::string input : {"PING\r\nPINGPINGPING\r\n", "a b c\r\n", "*1\r\n$4\r\nabcd\r\n",
                                  "*3\r\n$1\r\na\r\n", "a b\r\n*1\r\n$3\r\nabc\r\n"}) {
    CAPTURE(input);
    CheckEverySplit(input, small);
  }
}

TEST_CASE("resp parser skips empty multibulks and blank lines") {
  CHECK(One("*0\r\n*-1\r\n\r\n\n  \t \r\n*1\r\n$4\r\nPING\r\n") == Args{"PING"});
}

TEST_CASE("resp parser reports skipped bytes as consumed even when it needs more") {
  Command cmd;
  ParseResult r = Parse("\r\n*0\r\n*-1\r\n", {}, &cmd);
  CHECK(r.status == ParseStatus::kNeedMore);
  CHECK(r.consumed == 11);
  r = Parse("\r\n*0\r\n*2\r\n$4\r\nECHO\r\n", {}, &cmd);
  CHECK(r.status == ParseStatus::kNeedMore);
  CHECK(r.consumed == 6);
  CHECK(cmd.argv.empty());
  r = Parse("", {}, &cmd);
  CHECK(r.status == ParseStatus::kNeedMore);
  CHECK(r.consumed == 0);
}

TEST_CASE("resp parser counts skipped bytes into a complete command's length") {
  Command cmd;
  const std::string input = "\r\n*0\r\nPING\r\nQUIT\r\n";
  ParseResult r = Parse(input, {}, &cmd);
  REQUIRE(r.status == ParseStatus::kComplete);
  CHECK(r.consumed == 12);
}

TEST_CASE("resp parser reuses the command between calls") {
  Command cmd;
  REQUIRE(Parse("INLINE cmd\r\n", {}, &cmd).status == ParseStatus::kComplete);
  REQUIRE(Parse(Multibulk({"PING"}), {}, &cmd).status == ParseStatus::kComplete);
  CHECK(cmd.argv.size() == 1);
  CHECK(cmd.owned.empty());
}

TEST_CASE("resp parser splits inline commands by whitespace") {
  CHECK(One("PING\r\n") == Args{"PING"});
  CHECK(One("ping\n") == Args{"ping"});
  CHECK(One("  SET\tkey   value \r\n") == Args{"SET", "key", "value"});
  CHECK(One("GET k\r\r\n") == Args{"GET", "k"});
  CHECK(One("A\vB\n") == Args{"A\vB"});  // like Redis: \v only separates at the start
}

TEST_CASE("resp parser unescapes double quoted inline arguments") {
  CHECK(One("ECHO \"a b\"\r\n") == Args{"ECHO", "a b"});
  CHECK(One("ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"\r\n") == Args{"ECHO", "\n\r\t\b\a\\\""});
  CHECK(One("ECHO \"\\x41\\x7a\\x00z\"\r\n") == Args{"ECHO", "Az\0z"s});
  CHECK(One("ECHO \"\\xZZ\\q\"\r\n") == Args{"ECHO", "xZZq"});
  CHECK(One("ECHO \"\"\r\n") == Args{"ECHO", ""});
  CHECK(One("ECHO \"{\\\"type\\\":1}\"\r\n") == Args{"ECHO", "{\"type\":1}"});
  CHECK(One("ECHO a\"b c\"\r\n") == Args{"ECHO", "ab c"});
}

TEST_CASE("resp parser unescapes only quotes in single quoted inline arguments") {
  CHECK(One("ECHO 'a b'\r\n") == Args{"ECHO", "a b"});
  CHECK(One("ECHO 'it\\'s \\n'\r\n") == Args{"ECHO", "it's \\n"});
  CHECK(One("ECHO '{\"k\":\"v\"}'\r\n") == Args{"ECHO", "{\"k\":\"v\"}"});
  CHECK(One("ECHO ''\r\n") == Args{"ECHO", ""});
}

TEST_CASE("resp parser keeps inline arguments in owned storage") {
  Command cmd;
  std::string input = "SET \"k\" v\r\n";
  REQUIRE(Parse(input, {}, &cmd).status == ParseStatus::kComplete);
  input.assign(input.size(), 'x');  // the views must not point into the input
  CHECK(Args(cmd.argv.begin(), cmd.argv.end()) == Args{"SET", "k", "v"});
}

TEST_CASE("resp parser ends an inline line at a NUL byte like Redis") {
  CHECK(One("ECHO a\0b c\r\n"s) == Args{"ECHO", "a"});
  CHECK(ErrorOf("ECHO \"a\0\"\r\n"s) ==
        "Protocol error: unbalanced quotes in request");
}

TEST_CASE("resp parser rejects unbalanced quotes in an inline request") {
  for (const std::string input : {"SET \"abc\r\n", "SET 'abc\r\n", "SET \"a\"b\r\n", "SET 'a'b\r\n",
                                  "SET \"abc\\\"\r\n", "SET 'abc\\'\r\n"}) {
    CAPTURE(input);
    CHECK(ErrorOf(input) == "Protocol error: unbalanced quotes in request");
  }
}

TEST_CASE("resp parser rejects an invalid multibulk length") {
  for (const std::string input :
       {"*x\r\n", "*-2\r\n", "*-0\r\n", "*+1\r\n", "* 1\r\n", "*1 \r\n", "*\r\n", "*01\r\n",
        "*1025\r\n", "*99999999999999999999\r\n", "*9223372036854775808\r\n", "*1\rX"}) {
    CAPTURE(input);
    CHECK(ErrorOf(input) == "Protocol error: invalid multibulk length");
  }
}

TEST_CASE("resp parser rejects a bulk that does not start with a dollar sign") {
  CHECK(ErrorOf("*1\r\n:5\r\n") == "Protocol error: expected '$', got ':'");
  CHECK(ErrorOf("*2\r\n$1\r\na\r\nX") == "Protocol error: expected '$', got 'X'");
}

TEST_CASE("resp parser rejects a negative bulk length") {
  CHECK(ErrorOf("*1\r\n$-1\r\n") == "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$-5\r\n") == "Protocol error: invalid bulk length");
}

TEST_CASE("resp parser rejects a malformed bulk length") {
  for (const std::string len : {"x", "+3", " 3", "3 ", "", "03", "3x", "99999999999999999999"}) {
    CAPTURE(len);
    CHECK(ErrorOf("*1\r\n$" + len + "\r\n") == "Protocol error: invalid bulk length");
  }
  CHECK(ErrorOf("*1\r\n$3\rX") == "Protocol error: invalid bulk length");
}

TEST_CASE("resp parser rejects bulk data not terminated by CRLF") {
  CHECK(ErrorOf("*1\r\n$3\r\nabcd\r\n") == "Protocol error: bulk string not terminated by CRLF");
  CHECK(ErrorOf("*1\r\n$3\r\nabc\rX") == "Protocol error: bulk string not terminated by CRLF");
  CHECK(ErrorOf("*1\r\n$3\r\nabc\n") == "Protocol error: bulk string not terminated by CRLF");
  CHECK(StatusOf("*1\r\n$3\r\nabc\r") == ParseStatus::kNeedMore);
}

TEST_CASE("resp parser rejects a huge declared bulk over the limit") {
  CHECK(ErrorOf("*1\r\n$1000000000\r\nabc") == "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$16777217\r\n") == "Protocol error: invalid bulk length");
  CHECK(StatusOf("*1\r\n$16777216\r\n") == ParseStatus::kNeedMore);
}

TEST_CASE("resp parser waits for a huge allowed bulk without reserving it") {
  Limits big;
  big.max_bulk = std::size_t{4} << 30;
  Command cmd;
  ParseResult r = Parse("*1\r\n$1000000000\r\nabc", big, &cmd);
  CHECK(r.status == ParseStatus::kNeedMore);
  CHECK(r.consumed == 0);
  CHECK(cmd.argv.empty());
  CHECK(cmd.argv.capacity() < 16);
  CHECK(StatusOf("*1\r\n$4000000000\r\n", big) == ParseStatus::kNeedMore);
}

TEST_CASE("resp parser rejects a too long count line without CRLF") {
  const std::string digits(70000, '1');
  CHECK(ErrorOf("*" + digits) == "Protocol error: too big mbulk count string");
  CHECK(ErrorOf("*1\r\n$" + digits) == "Protocol error: too big bulk count string");
  CHECK(StatusOf("*" + std::string(60000, '1')) == ParseStatus::kNeedMore);
  CHECK(StatusOf("*1\r\n$" + std::string(60000, '1')) == ParseStatus::kNeedMore);
}

TEST_CASE("resp parser rejects a too big inline request") {
  const std::string line(65537, 'a');
  CHECK(ErrorOf(line) == "Protocol error: too big inline request");
  CHECK(ErrorOf(line + "\r\n") == "Protocol error: too big inline request");
  CHECK(StatusOf(std::string(65536, 'a')) == ParseStatus::kNeedMore);
  CHECK(One(std::string(65536, 'a') + "\n") == Args{std::string(65536, 'a')});
  Limits small;
  small.max_inline = 10;
  CHECK(One("0123456789\n", small) == Args{"0123456789"});
  CHECK(ErrorOf("0123456789A\n", small) == "Protocol error: too big inline request");
  CHECK(ErrorOf("0123456789\r\n", small) == "Protocol error: too big inline request");
}

TEST_CASE("resp parser enforces the argument limit") {
  Limits limits;
  limits.max_args = 3;
  CHECK(One(Multibulk({"a", "b", "c"}), limits).size() == 3);
  CHECK(ErrorOf("*4\r\n", limits) == "Protocol error: invalid multibulk length");
  CHECK(One("a b c\r\n", limits).size() == 3);
  CHECK(ErrorOf("a b c d\r\n", limits) ==
        "Protocol error: too many arguments in inline request");
  CHECK(One(Multibulk(Args(1024, "x"))).size() == 1024);
}

TEST_CASE("resp parser enforces the bulk size limit") {
  Limits limits;
  limits.max_bulk = 5;
  CHECK(One(Multibulk({"12345"}), limits) == Args{"12345"});
  CHECK(ErrorOf("*1\r\n$6\r\n", limits) == "Protocol error: invalid bulk length");
  const std::string max(16u << 20, 'x');
  CHECK(One(Multibulk({max})).at(0).size() == max.size());
}

TEST_CASE("resp parser enforces pre-auth limits of 10 arguments and 16 KiB bulks") {
  Limits pre_auth;
  pre_auth.max_args = 10;
  pre_auth.max_bulk = 16u << 10;
  CHECK(One(Multibulk(Args(10, "x")), pre_auth).size() == 10);
  CHECK(ErrorOf(Multibulk(Args(11, "x")), pre_auth) == "Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*11\r\n", pre_auth) == "Protocol error: invalid multibulk length");
  const std::string fits(16u << 10, 'x');
  CHECK(One(Multibulk({"AUTH", fits}), pre_auth).at(1) == fits);
  CHECK(ErrorOf(Multibulk({"AUTH", fits + "x"}), pre_auth) == "Protocol error: invalid bulk length");
  CHECK(ErrorOf("*2\r\n$4\r\nAUTH\r\n$1000000000\r\n", pre_auth) ==
        "Protocol error: invalid bulk length");
}

}  // namespace
}  // namespace eventful::protocol
