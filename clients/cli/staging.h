// The staging file of `eventful aggregate:apply` and `aggregate:commit`: events staged locally, like
// `git add`, then sent together in one atomic multi-stream ADD.
//
// Location: $XDG_CONFIG_HOME/eventful/staged (default ~/.config/eventful/staged); the directory is
// created 0700, the file 0600. Format: JSON lines, one staged event per line, in staging order:
//
//   {"id":"01J…","stream":"patient.42","type":"patient-updated","data":{"status":"deceased"}}
//
// `id` is a ULID chosen at staging time and sent with the event, so a commit whose reply was lost
// can be retried safely: the server's idempotent ADD returns the stored events instead of storing
// them twice (PROTOCOL.md §6). Lines without an id (older files) are sent without one.
//
// Every access holds an exclusive flock(2) on the file for its whole duration, so an apply that
// runs during a commit is either part of that commit or still staged after it. The file is changed
// in place (appended to, truncated) and fsynced, never replaced, so that the lock stays on it.
#pragma once

#include <string>
#include <vector>

namespace eventful::cli {

struct StagedEvent {
  std::string id;  // empty = none
  std::string stream;
  std::string type;
  std::string data_json;  // a JSON object (or string), compact
};

// One staging-file line (no newline).
std::string StagedLine(const StagedEvent& event);

// The ADD argument that commits `events` (not empty):
// {"streams":[{"stream":S,"events":[{"id":I,"type":T,"data":D}…]}…]} — streams in the order of their first
// staged event, each stream's events in staging order (the server rejects a stream twice in one ADD).
std::string CommitRequest(const std::vector<StagedEvent>& events);

// The open, locked staging file. Every method prints "error: ..." and returns false on failure.
class StagingFile {
 public:
  StagingFile() = default;
  StagingFile(const StagingFile&) = delete;
  StagingFile& operator=(const StagingFile&) = delete;
  ~StagingFile();  // closes the file, which releases the lock

  // Opens and locks the file. With create, the file (and its directory) is created when missing;
  // without, a missing file is an empty one (exists() false) and nothing is created.
  bool Open(bool create);
  bool exists() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Every staged event, in order. A line that is not a staged event is an error naming it
  // (printed unless `quiet`).
  bool Read(std::vector<StagedEvent>* out, bool quiet = false);
  bool Append(const StagedEvent& event);
  bool Clear();  // truncates to zero length

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace eventful::cli
