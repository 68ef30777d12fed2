// RESP request parser: multibulk (`*N\r\n$len\r\n...`) and inline (telnet-style) commands.
//
// The parser is stateless between calls: the connection keeps the unconsumed bytes and calls
// Parse() again when more arrive. Nothing is ever reserved from a declared length; a bulk is only
// looked at once all of its bytes are in the buffer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace eventful::protocol {

struct Limits {
  std::size_t max_bulk = 16u << 20;     // bytes in one bulk string
  std::size_t max_args = 1024;          // arguments in one command
  std::size_t max_inline = 64u << 10;   // bytes in one inline command line
};

// One parsed command. `argv` views point into the input passed to Parse() (multibulk) or into
// `owned` (inline commands, whose quoting is unescaped). Valid until the input buffer is changed
// or the Command is reused.
struct Command {
  std::vector<std::string_view> argv;
  std::vector<std::string> owned;
  void Clear() {
    argv.clear();
    owned.clear();
  }
};

enum class ParseStatus { kComplete, kNeedMore, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  // kComplete: bytes of input that made up the command, including any skipped material before it.
  // kNeedMore: bytes of skipped material (blank inline lines, `*0`, `*-1`) before the incomplete
  // command, often 0. The caller drops `consumed` bytes in both cases.
  std::size_t consumed = 0;
  std::string error;  // "Protocol error: ..." text without the "ERR " code (kError only)
};

// Parses the first command in `input`. On kComplete, `*cmd` holds it and `consumed` says how
// many bytes to drop. Blank inline lines and empty multibulks (`*0`, `*-1`) are consumed and
// skipped (kComplete with an empty argv is never returned; the parser moves on to the next
// command). On kNeedMore the caller must still drop `consumed` bytes (the skipped material) and
// call again once more bytes arrive; `*cmd` is then empty. On kError the connection must reply
// `-ERR <error>` and close.
//
// Any prefix of an input either gives kNeedMore or exactly the result of the whole input, so how
// the bytes were split across reads never changes the outcome. No memory is allocated from a
// declared length: a multibulk's views are taken only once all of a bulk's bytes are present, and
// only inline commands allocate (one string in cmd->owned holding all their unescaped args).
ParseResult Parse(std::string_view input, const Limits& limits, Command* cmd);

}  // namespace eventful::protocol
