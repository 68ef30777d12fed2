#include "clients/cli/staging.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <simdjson.h>
#include <string_view>

#include "clients/cli/config_home.h"
#include "storage/json_text.h"

namespace eventful::cli {
namespace {

constexpr std::string_view kStagingFile = "staged";

using storage::AppendJsonString;

bool BadLine(const std::string& path, size_t line, const std::string& why, bool quiet) {
  if (quiet) return false;
  std::fprintf(stderr, "error: %s:%zu: %s (fix or remove the line, or `eventful aggregate:apply --clear`)\n",
               path.c_str(), line, why.c_str());
  return false;
}

}  // namespace

std::string StagedLine(const StagedEvent& e) {
  std::string out = "{";
  if (!e.id.empty()) {
    out += "\"id\":";
    AppendJsonString(&out, e.id);
    out += ',';
  }
  out += "\"stream\":";
  AppendJsonString(&out, e.stream);
  out += ",\"type\":";
  AppendJsonString(&out, e.type);
  out += ",\"data\":" + e.data_json + "}";
  return out;
}

std::string CommitRequest(const std::vector<StagedEvent>& events) {
  std::vector<std::string> streams;  // in order of first appearance
  for (const StagedEvent& e : events) {
    bool seen = false;
    for (const std::string& s : streams) seen = seen || s == e.stream;
    if (!seen) streams.push_back(e.stream);
  }
  std::string out = "{\"streams\":[";
  for (size_t i = 0; i < streams.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"stream\":";
    AppendJsonString(&out, streams[i]);
    out += ",\"events\":[";
    bool first = true;
    for (const StagedEvent& e : events) {
      if (e.stream != streams[i]) continue;
      if (!first) out += ',';
      first = false;
      out += '{';
      if (!e.id.empty()) {
        out += "\"id\":";
        AppendJsonString(&out, e.id);
        out += ',';
      }
      out += "\"type\":";
      AppendJsonString(&out, e.type);
      out += ",\"data\":" + e.data_json + "}";
    }
    out += "]}";
  }
  return out + "]}";
}

StagingFile::~StagingFile() {
  if (fd_ >= 0) close(fd_);
}

bool StagingFile::Open(bool create) {
  std::optional<std::string> dir = EventfulConfigDir();
  if (!dir) {
    std::fprintf(stderr, "error: cannot find the staging file: set XDG_CONFIG_HOME or HOME\n");
    return false;
  }
  path_ = *dir + "/" + std::string(kStagingFile);
  if (create && !MakePrivateDirs(*dir)) return false;
  fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd_ < 0) {
    if (!create && (errno == ENOENT || errno == ENOTDIR)) return true;
    PrintErrno("cannot open the staging file", path_);
    return false;
  }
  while (flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    PrintErrno("cannot lock the staging file", path_);
    return false;
  }
  struct stat st{};
  if (fstat(fd_, &st) == 0 && (st.st_mode & 077) != 0) {
    std::fprintf(stderr, "warning: %s is readable by other users (chmod 600 it)\n", path_.c_str());
  }
  if (create) SyncDir(*dir);
  return true;
}

bool StagingFile::Read(std::vector<StagedEvent>* out, bool quiet) {
  out->clear();
  if (fd_ < 0) return true;
  std::string text;
  if (lseek(fd_, 0, SEEK_SET) != 0 || !ReadAll(fd_, &text)) {
    PrintErrno("cannot read the staging file", path_);
    return false;
  }
  simdjson::dom::parser parser;
  size_t number = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    simdjson::dom::object o;
    if (parser.parse(line).get_object().get(o) != simdjson::SUCCESS) return BadLine(path_, number, "not a JSON object", quiet);
    StagedEvent e;
    std::string_view id, stream, type;
    simdjson::dom::element data;
    const bool has_id = o["id"].error() == simdjson::SUCCESS;
    if ((has_id && o["id"].get_string().get(id) != simdjson::SUCCESS) ||
        o["stream"].get_string().get(stream) != simdjson::SUCCESS ||
        o["type"].get_string().get(type) != simdjson::SUCCESS || o["data"].get(data) != simdjson::SUCCESS ||
        o.size() != (has_id ? 4u : 3u)) {
      return BadLine(path_, number, "a staged event is {\"id\"?,\"stream\",\"type\",\"data\"}", quiet);
    }
    e.id = id;
    e.stream = stream;
    e.type = type;
    e.data_json = simdjson::minify(data);
    out->push_back(std::move(e));
  }
  return true;
}

bool StagingFile::Append(const StagedEvent& event) {
  // A line left without its newline (a crash mid-write) must not swallow the next one.
  off_t size = lseek(fd_, 0, SEEK_END);
  std::string line = StagedLine(event) + "\n";
  if (size > 0) {
    char last = '\n';
    if (pread(fd_, &last, 1, size - 1) == 1 && last != '\n') line.insert(line.begin(), '\n');
  }
  if (size < 0 || !WriteAll(fd_, line) || fsync(fd_) != 0) {
    PrintErrno("cannot write the staging file", path_);
    return false;
  }
  return true;
}

bool StagingFile::Clear() {
  if (fd_ < 0) return true;
  if (ftruncate(fd_, 0) != 0 || fsync(fd_) != 0) {
    PrintErrno("cannot empty the staging file", path_);
    return false;
  }
  return true;
}

}  // namespace eventful::cli
