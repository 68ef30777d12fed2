// hiredis, the C client most Redis libraries wrap, against a real eventfuld process.
//
// Each test case configures a fresh data directory with `eventful config`, starts
// `eventfuld --port 0` with its stdout on a pipe, reads the port from the "listening on" line
// (no sleeps, no port races), talks to it with hiredis and finally stops it with SIGTERM,
// checking that it exits with status 0. Secrets are the ones tests/integration/harness.py uses.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#ifndef EVENTFUL_BUILD_DIR
#error "EVENTFUL_BUILD_DIR must name the CMake build directory"
#endif

namespace {

constexpr const char* kMasterKey = "evm_test-master-key-0123456789abcdefghij";
constexpr const char* kDek = "evd_test-data-key-0123456789abcdefghijkl";

std::string Bin(const char* name) { return std::string(EVENTFUL_BUILD_DIR) + "/bin/" + name; }

// Runs argv to completion (stdout discarded); returns its exit status, or -1.
int Run(const std::vector<std::string>& argv) {
  std::fflush(nullptr);  // or the child would flush a copy of our buffered output
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::freopen("/dev/null", "w", stdout);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One eventfuld process on a free loopback port with its own data directory.
class ServerProcess {
 public:
  ServerProcess() {
    char tmpl[] = "/tmp/eventful-hiredis-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    REQUIRE(Run({Bin("eventful"), "config", "--data-dir", dir_, "--master-key", kMasterKey, "--dek", kDek}) == 0);

    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::fflush(nullptr);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      setenv("EVENTFUL_DEK", kDek, 1);
      unsetenv("EVENTFUL_PORT");
      const std::string bin = Bin("eventfuld");
      execl(bin.c_str(), bin.c_str(), "--data-dir", dir_.c_str(), "--port", "0", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    REQUIRE(out_ != nullptr);
    char line[4096];
    while (std::fgets(line, sizeof line, out_) != nullptr) {
      output_ += line;
      std::string text(line);
      if (text.find("listening on") != std::string::npos) {
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        port_ = std::stoi(text.substr(text.rfind(':') + 1));
        break;
      }
    }
    INFO("server output:\n" << output_);
    REQUIRE(port_ > 0);
    // Keep draining the server's output so that the pipe never fills up.
    drain_ = std::thread([this] {
      char buf[4096];
      while (std::fgets(buf, sizeof buf, out_) != nullptr) {
      }
    });
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (drain_.joinable()) drain_.join();
    if (out_ != nullptr) std::fclose(out_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // SIGTERM and wait; returns the raw wait status.
  int Stop() {
    REQUIRE(kill(pid_, SIGTERM) == 0);
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return status;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::thread drain_;
  std::string output_;
  int port_ = 0;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

Context Connect(const ServerProcess& server) {
  Context c(redisConnect("127.0.0.1", server.port()));
  REQUIRE(c != nullptr);
  INFO("connect error: " << c->errstr);
  REQUIRE(c->err == 0);
  return c;
}

Reply Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), args.data(), lens.data())));
  INFO("hiredis error: " << c->errstr);
  REQUIRE(r != nullptr);
  return r;
}

void Authenticate(redisContext* c) {
  Reply r(static_cast<redisReply*>(redisCommand(c, "AUTH %s", kMasterKey)));
  REQUIRE(r != nullptr);
  REQUIRE(r->type == REDIS_REPLY_STATUS);
  CHECK(std::string(r->str, r->len) == "OK");
}

std::string Str(const redisReply* r) { return std::string(r->str, r->len); }

// The integer value of "key":N in a flat JSON object (enough for the event objects we check).
long long JsonInt(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const auto at = json.find(needle);
  REQUIRE(at != std::string::npos);
  return std::stoll(json.substr(at + needle.size()));
}

// The string value of "key":"..." (values without escapes).
std::string JsonStr(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const auto at = json.find(needle);
  REQUIRE(at != std::string::npos);
  const auto start = at + needle.size();
  return json.substr(start, json.find('"', start) - start);
}

void CheckStoppedCleanly(ServerProcess& server) {
  const int status = server.Stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE("hiredis adds and gets events as arrays of JSON bulk strings") {
  ServerProcess server;
  Context c = Connect(server);
  Authenticate(c.get());

  Reply added = Command(c.get(), {"ADD", R"({"stream":"hiredis.1","version":0,"events":[)"
                                         R"({"type":"opened","data":{"who":"hiredis client","n":7}},{"type":"closed"}]})"});
  REQUIRE(added->type == REDIS_REPLY_ARRAY);
  REQUIRE(added->elements == 2);
  for (size_t i = 0; i < added->elements; ++i) {
    const redisReply* e = added->element[i];
    REQUIRE(e->type == REDIS_REPLY_STRING);
    const std::string json = Str(e);
    CHECK(json.front() == '{');
    CHECK(json.back() == '}');
    CHECK(JsonStr(json, "stream") == "hiredis.1");
    CHECK(JsonInt(json, "version") == static_cast<long long>(i + 1));
    CHECK(JsonStr(json, "actor") == "master");
    CHECK(JsonStr(json, "hash").size() == 64);
  }
  // Numbers are stored as their JSON text.
  CHECK(Str(added->element[0]).find(R"("who":"hiredis client")") != std::string::npos);
  CHECK(Str(added->element[0]).find(R"("n":"7")") != std::string::npos);
  CHECK(JsonInt(Str(added->element[1]), "position") == JsonInt(Str(added->element[0]), "position") + 1);

  // The "%s" form of redisCommand passes the JSON, spaces included, as one argument.
  Reply got(static_cast<redisReply*>(redisCommand(c.get(), "%s %s", "GET", R"({"stream":"hiredis.1", "limit": 10})")));
  REQUIRE(got != nullptr);
  REQUIRE(got->type == REDIS_REPLY_ARRAY);
  REQUIRE(got->elements == 2);
  for (size_t i = 0; i < got->elements; ++i) {
    REQUIRE(got->element[i]->type == REDIS_REPLY_STRING);
    CHECK(Str(got->element[i]) == Str(added->element[i]));
  }

  Reply latest = Command(c.get(), {"GET", R"({"stream":"hiredis.1","direction":"backward","limit":1})"});
  REQUIRE(latest->type == REDIS_REPLY_ARRAY);
  REQUIRE(latest->elements == 1);
  CHECK(Str(latest->element[0]) == Str(added->element[1]));

  Reply unknown = Command(c.get(), {"GET", R"({"stream":"hiredis.none"})"});
  REQUIRE(unknown->type == REDIS_REPLY_ARRAY);
  CHECK(unknown->elements == 0);

  Reply count = Command(c.get(), {"EVENTCOUNT"});
  REQUIRE(count->type == REDIS_REPLY_INTEGER);
  CHECK(count->integer == 2);

  Reply missing = Command(c.get(), {"EVENT:GET", R"({"id":"no-such-event"})"});
  CHECK(missing->type == REDIS_REPLY_NIL);

  Reply checksum = Command(c.get(), {"CHECKSUM"});
  REQUIRE(checksum->type == REDIS_REPLY_ARRAY);
  REQUIRE(checksum->elements == 3);
  CHECK(checksum->element[0]->type == REDIS_REPLY_STRING);
  CHECK(Str(checksum->element[0]) == JsonStr(Str(added->element[1]), "id"));
  CHECK(checksum->element[1]->type == REDIS_REPLY_STRING);
  CHECK(checksum->element[1]->len == 64);
  CHECK(checksum->element[2]->type == REDIS_REPLY_INTEGER);
  CHECK(checksum->element[2]->integer == 2);

  c.reset();
  CheckStoppedCleanly(server);
}

TEST_CASE("hiredis pipelines 1000 ADDs and reads 1000 replies in order") {
  ServerProcess server;
  Context c = Connect(server);
  Authenticate(c.get());

  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    const std::string json = R"({"stream":"hiredis.pipe","events":[{"type":"tick","data":{"i":")" +
                             std::to_string(i) + R"("}}]})";
    const char* args[] = {"ADD", json.c_str()};
    const size_t lens[] = {3, json.size()};
    REQUIRE(redisAppendCommandArgv(c.get(), 2, args, lens) == REDIS_OK);
  }
  long long first_position = 0;
  for (int i = 0; i < kCount; ++i) {
    void* raw = nullptr;
    REQUIRE(redisGetReply(c.get(), &raw) == REDIS_OK);
    Reply r(static_cast<redisReply*>(raw));
    REQUIRE(r != nullptr);
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    REQUIRE(r->elements == 1);
    REQUIRE(r->element[0]->type == REDIS_REPLY_STRING);
    const std::string json = Str(r->element[0]);
    CHECK(JsonInt(json, "version") == i + 1);
    CHECK(json.find(R"("data":{"i":")" + std::to_string(i) + R"("})") != std::string::npos);
    if (i == 0) first_position = JsonInt(json, "position");
    CHECK(JsonInt(json, "position") == first_position + i);
  }

  Reply count = Command(c.get(), {"EVENTCOUNT"});
  REQUIRE(count->type == REDIS_REPLY_INTEGER);
  CHECK(count->integer == kCount);
  Reply all = Command(c.get(), {"GET", R"({"stream":"hiredis.pipe","limit":10000})"});
  REQUIRE(all->type == REDIS_REPLY_ARRAY);
  CHECK(all->elements == static_cast<size_t>(kCount));

  c.reset();
  CheckStoppedCleanly(server);
}

TEST_CASE("hiredis sees error replies with their code and message") {
  ServerProcess server;
  Context c = Connect(server);

  // Before AUTH: PING works, data commands get NOAUTH.
  Reply pong = Command(c.get(), {"PING"});
  REQUIRE(pong->type == REDIS_REPLY_STATUS);
  CHECK(Str(pong.get()) == "PONG");
  Reply noauth = Command(c.get(), {"GET", R"({"stream":"hiredis.conflict"})"});
  REQUIRE(noauth->type == REDIS_REPLY_ERROR);
  CHECK(Str(noauth.get()).rfind("NOAUTH ", 0) == 0);

  Reply wrongpass = Command(c.get(), {"AUTH", "evk_not-a-real-key-aaaaaaaaaaaaaaaaaaaa"});
  REQUIRE(wrongpass->type == REDIS_REPLY_ERROR);
  CHECK(Str(wrongpass.get()).rfind("WRONGPASS ", 0) == 0);

  Authenticate(c.get());
  Reply first = Command(c.get(), {"ADD", R"({"stream":"hiredis.conflict","version":0,"events":[{"type":"t"}]})"});
  REQUIRE(first->type == REDIS_REPLY_ARRAY);
  Reply conflict = Command(c.get(), {"ADD", R"({"stream":"hiredis.conflict","version":0,"events":[{"type":"t"}]})"});
  REQUIRE(conflict->type == REDIS_REPLY_ERROR);
  CHECK(Str(conflict.get()) == "CONFLICT expected version 0 but stream 'hiredis.conflict' is at version 1");

  Reply invalid = Command(c.get(), {"ADD", R"({"stream":"hiredis..bad","events":[{"type":"t"}]})"});
  REQUIRE(invalid->type == REDIS_REPLY_ERROR);
  CHECK(Str(invalid.get()).rfind("INVALID ", 0) == 0);

  Reply unknown = Command(c.get(), {"FOO"});
  REQUIRE(unknown->type == REDIS_REPLY_ERROR);
  CHECK(Str(unknown.get()) == "ERR unknown command 'FOO'");

  // The connection is still in sync after the errors.
  Reply count = Command(c.get(), {"EVENTCOUNT"});
  REQUIRE(count->type == REDIS_REPLY_INTEGER);
  CHECK(count->integer == 1);

  c.reset();
  CheckStoppedCleanly(server);
}
