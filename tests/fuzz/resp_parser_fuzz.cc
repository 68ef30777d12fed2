// libFuzzer target for the RESP request parser.
//
// Input layout: byte 0 picks small limits (bit 0: max_bulk 8, bit 1: max_args 3, bit 2:
// max_inline 16), bytes 1-2 pick a split point, the rest is the byte stream a client sends.
//
// Checks, aborting on any failure:
//   - parsing the stream as one read and as two reads (split at the chosen point) gives the same
//     commands, the same final status, the same error text and the same unconsumed tail;
//   - every result is sane: consumed within the input, no empty command, limits respected, views
//     inside the input or the command's own storage, kNeedMore idempotent once `consumed` is
//     dropped, the same input always gives the same result;
//   - the commands, re-encoded as multibulk, parse back to the same commands.
//
// The prefix read is parsed from an exact-size heap copy so ASan catches any read past its end.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp_parser.h"

namespace {

using eventful::protocol::Command;
using eventful::protocol::Limits;
using eventful::protocol::Parse;
using eventful::protocol::ParseResult;
using eventful::protocol::ParseStatus;

using Args = std::vector<std::string>;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Run {
  std::vector<Args> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  std::size_t offset = 0;  // bytes of the stream consumed in total
};

bool Inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Parses stream[run->offset, end) the way a connection does, from an exact-size copy.
void Drain(std::string_view stream, std::size_t end, const Limits& limits, Run* run) {
  const std::size_t n = end - run->offset;
  std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
  if (n > 0) std::memcpy(copy.get(), stream.data() + run->offset, n);
  std::string_view buf(copy.get(), n);
  Command cmd;
  Command again;
  while (true) {
    const ParseResult r = Parse(buf, limits, &cmd);
    const ParseResult r2 = Parse(buf, limits, &again);
    Check(r.status == r2.status && r.consumed == r2.consumed && r.error == r2.error);
    Check(cmd.argv == again.argv);
    Check(r.consumed <= buf.size());
    if (r.status == ParseStatus::kComplete) {
      Check(r.consumed > 0);
      Check(!cmd.argv.empty());
      Check(cmd.argv.size() <= limits.max_args);
      for (std::string_view a : cmd.argv) {
        bool owned = false;
        for (const std::string& o : cmd.owned) owned = owned || Inside(a, o);
        Check(owned || Inside(a, buf.substr(0, r.consumed)));
        Check(owned ? a.size() <= limits.max_inline : a.size() <= limits.max_bulk);
      }
      run->commands.emplace_back(cmd.argv.begin(), cmd.argv.end());
      run->offset += r.consumed;
      buf.remove_prefix(r.consumed);
      continue;
    }
    Check(cmd.argv.empty());
    run->last = r.status;
    if (r.status == ParseStatus::kError) {
      Check(r.error.rfind("Protocol error: ", 0) == 0);
      run->error = r.error;
      run->offset += r.consumed;  // the skipped bytes before the bad command
      return;
    }
    Check(r.error.empty());
    run->offset += r.consumed;
    buf.remove_prefix(r.consumed);
    // Once the skipped bytes are dropped, asking again must not skip anything more.
    const ParseResult r3 = Parse(buf, limits, &cmd);
    Check(r3.status == ParseStatus::kNeedMore && r3.consumed == 0);
    return;
  }
}

std::string Encode(const std::vector<Args>& commands) {
  std::string out;
  for (const Args& args : commands) {
    out += "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) {
      out += "$" + std::to_string(a.size()) + "\r\n";
      out += a;
      out += "\r\n";
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  Limits limits;
  if (data[0] & 1) limits.max_bulk = 8;
  if (data[0] & 2) limits.max_args = 3;
  if (data[0] & 4) limits.max_inline = 16;
  const std::size_t split_seed = static_cast<std::size_t>(data[1]) << 8 | data[2];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t split = split_seed % (stream.size() + 1);

  Run whole;
  Drain(stream, stream.size(), limits, &whole);

  Run parts;
  Drain(stream, split, limits, &parts);
  if (parts.last != ParseStatus::kError) {
    parts.last = ParseStatus::kNeedMore;
    Drain(stream, stream.size(), limits, &parts);
  }

  Check(parts.commands == whole.commands);
  Check(parts.last == whole.last);
  Check(parts.error == whole.error);
  Check(parts.offset == whole.offset);

  // Re-encoded as multibulk, the commands read back unchanged.
  Limits open;
  open.max_bulk = std::numeric_limits<std::size_t>::max();
  open.max_args = std::numeric_limits<std::size_t>::max();
  const std::string encoded = Encode(whole.commands);
  Run back;
  Drain(encoded, encoded.size(), open, &back);
  Check(back.commands == whole.commands);
  Check(back.last == ParseStatus::kNeedMore && back.offset == encoded.size());
  return 0;
}
