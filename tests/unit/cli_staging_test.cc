// The staging file of aggregate:apply / aggregate:commit (clients/cli/staging.h): the lines it
// holds and the one multi-stream ADD a commit sends.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "clients/cli/staging.h"

namespace {

using eventful::cli::CommitRequest;
using eventful::cli::StagedEvent;
using eventful::cli::StagedLine;
using eventful::cli::StagingFile;

TEST_CASE("a staged line is the event's id, stream, type and data as one JSON object") {
  CHECK(StagedLine({"01ID", "patient.42", "patient-\"x\"", "{\"a\":\"1\"}"}) ==
        R"({"id":"01ID","stream":"patient.42","type":"patient-\"x\"","data":{"a":"1"}})");
  CHECK(StagedLine({"", "p.1", "t", "{}"}) == R"({"stream":"p.1","type":"t","data":{}})");
}

TEST_CASE("a commit groups events by stream in order of first appearance, keeping their order") {
  const std::vector<StagedEvent> staged = {
      {"i1", "b.1", "x", "{}"}, {"i2", "a.1", "y", "{\"k\":\"v\"}"}, {"", "b.1", "z", "{}"}};
  CHECK(CommitRequest(staged) ==
        R"({"streams":[{"stream":"b.1","events":[{"id":"i1","type":"x","data":{}},{"type":"z","data":{}}]},)"
        R"({"stream":"a.1","events":[{"id":"i2","type":"y","data":{"k":"v"}}]}]})");
}

TEST_CASE("the staging file keeps appended events across opens and is empty after Clear") {
  const std::filesystem::path home = std::filesystem::temp_directory_path() / ("eventful-staging-" + std::to_string(getpid()));
  std::filesystem::remove_all(home);
  setenv("XDG_CONFIG_HOME", home.c_str(), 1);
  {
    StagingFile f;
    REQUIRE(f.Open(/*create=*/false));
    CHECK_FALSE(f.exists());
    std::vector<StagedEvent> events;
    REQUIRE(f.Read(&events));
    CHECK(events.empty());
  }
  CHECK_FALSE(std::filesystem::exists(home));
  {
    StagingFile f;
    REQUIRE(f.Open(/*create=*/true));
    REQUIRE(f.Append({"01A", "a.1", "t", "{\"n\":\"1\"}"}));
    REQUIRE(f.Append({"", "b.2", "u", "{}"}));
  }
  CHECK((std::filesystem::status(home / "eventful").permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);
  CHECK((std::filesystem::status(home / "eventful" / "staged").permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  {
    StagingFile f;
    REQUIRE(f.Open(/*create=*/false));
    std::vector<StagedEvent> events;
    REQUIRE(f.Read(&events));
    REQUIRE(events.size() == 2);
    CHECK(events[0].id == "01A");
    CHECK(events[1].id.empty());
    CHECK(events[0].stream == "a.1");
    CHECK(events[0].data_json == "{\"n\":\"1\"}");
    CHECK(events[1].type == "u");
    REQUIRE(f.Clear());
    REQUIRE(f.Read(&events));
    CHECK(events.empty());
  }
  std::filesystem::remove_all(home);
  unsetenv("XDG_CONFIG_HOME");
}

}  // namespace
