// aggregate:apply and aggregate:commit: events staged locally in the staging file (staging.h), like
// `git add`, then committed together in one atomic multi-stream ADD, like `git commit`. Nothing is
// sent before the commit; a commit stores all staged events or none and only then empties the file.
#include <cstdio>
#include <string>
#include <vector>

#include "clients/cli/commands.h"
#include "clients/cli/connection.h"
#include "clients/cli/event_arguments.h"
#include "clients/cli/replies.h"
#include "clients/cli/staging.h"
#include "storage/clock.h"
#include "storage/names.h"
#include "storage/ulid.h"

namespace eventful::cli {
namespace {

std::string EventsText(size_t n) { return std::to_string(n) + (n == 1 ? " event" : " events"); }

int ListStaged(const AggregateApplyOptions& o) {
  StagingFile file;
  std::vector<StagedEvent> staged;
  if (!file.Open(/*create=*/false) || !file.Read(&staged)) return 1;
  if (o.json) {
    for (const StagedEvent& e : staged) PrintLine(StagedLine(e));
    return 0;
  }
  if (staged.empty()) {
    std::printf("nothing staged\n");
    return 0;
  }
  std::printf("%s staged in %s (send with `eventful aggregate:commit`):\n", EventsText(staged.size()).c_str(),
              file.path().c_str());
  for (const StagedEvent& e : staged) {
    std::printf("  %s %s %s\n", e.stream.c_str(), e.type.c_str(), e.data_json.c_str());
  }
  return 0;
}

int ClearStaged() {
  StagingFile file;
  std::vector<StagedEvent> staged;
  if (!file.Open(/*create=*/false)) return 1;
  // A damaged file is cleared too: that is the way out the error message of Read offers.
  const bool readable = file.Read(&staged, /*quiet=*/true);
  if (!file.Clear()) return 1;
  if (readable && staged.empty()) {
    std::printf("nothing staged\n");
  } else if (readable) {
    std::printf("dropped %s\n", EventsText(staged.size()).c_str());
  } else {
    std::printf("emptied %s\n", file.path().c_str());
  }
  return 0;
}

}  // namespace

int RunAggregateApply(const AggregateApplyOptions& o) {
  if (o.list && o.clear) return Fail("give --list or --clear, not both");
  if (o.list || o.clear) {
    if (o.stream || !o.extras.empty()) {
      return Fail(std::string(o.list ? "--list" : "--clear") + " takes no event: give it alone");
    }
    return o.list ? ListStaged(o) : ClearStaged();
  }
  if (o.json) return Fail("--json is for --list");
  EventArguments event;
  if (!ParseEventArguments("aggregate:apply", o.extras, &event)) return 1;
  if (!o.stream) return Fail("aggregate:apply needs --stream: eventful aggregate:apply TYPE --stream=STREAM [--FIELD=VALUE ...]");
  // Caught now rather than at the commit: the name rules the server applies (storage/names.h).
  if (std::string why; !storage::ValidStreamName(*o.stream, &why)) return Fail(why);
  for (const auto& [name, value] : event.fields) {
    if (!storage::ValidFieldName(name)) return Fail("bad field name '" + name + "' (1-128 of A-Z a-z 0-9 _ - . :)");
  }

  StagingFile file;
  std::vector<StagedEvent> staged;
  if (!file.Open(/*create=*/true) || !file.Read(&staged)) return 1;
  // The id makes a retried commit idempotent (staging.h).
  const StagedEvent e{storage::UlidGenerator().Next(storage::NowMs()), *o.stream, event.type, DataJson(event)};
  if (!file.Append(e)) return 1;
  std::printf("staged %s %s %s (%s staged; send with `eventful aggregate:commit`)\n", e.stream.c_str(), e.type.c_str(),
              e.data_json.c_str(), EventsText(staged.size() + 1).c_str());
  return 0;
}

int RunAggregateCommit(const ConnectionOptions& connection) {
  StagingFile file;  // locked until the commit is over: an apply meanwhile waits
  std::vector<StagedEvent> staged;
  if (!file.Open(/*create=*/false) || !file.Read(&staged)) return 1;
  if (staged.empty()) {
    return Fail("nothing staged: stage events first with `eventful aggregate:apply TYPE --stream=STREAM "
                "[--FIELD=VALUE ...]`");
  }
  auto kept = [&]() {
    std::fprintf(stderr, "nothing was stored; the %s stay staged in %s\n", EventsText(staged.size()).c_str(),
                 file.path().c_str());
    return 1;
  };
  Connection c;
  if (!c.Open(connection)) return kept();
  Reply reply = c.Call({"ADD", CommitRequest(staged)});
  if (reply == nullptr) {
    std::fprintf(stderr, "the connection failed after the ADD was sent: it may or may not be stored; the staged "
                         "events are kept in %s — commit again: their ids make the retry store them at most once\n",
                 file.path().c_str());
    return 1;
  }
  if (PrintIfError(reply.get())) return kept();  // ADD is atomic: an error reply stored nothing
  if (!IsJsonArray(reply.get())) return 1;
  // The events are stored: from here on the staging file must be emptied whatever is printed.
  if (!file.Clear()) {
    std::fprintf(stderr, "the %s ARE stored: do not commit them again; remove %s by hand\n",
                 EventsText(staged.size()).c_str(), file.path().c_str());
    return 1;
  }
  const int rc = PrintObjects(reply.get(), connection.json, PrintAdded);
  if (rc == 0 && !connection.json) {
    std::printf("committed %s in one ADD; the staging file is empty\n", EventsText(reply->elements).c_str());
  }
  return rc;
}

}  // namespace eventful::cli
