// RESP2/RESP3 reply encoding, appended to one output buffer per connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eventful::protocol {

class ReplyWriter {
 public:
  // `out` must outlive the writer. `resp` is 2 or 3.
  ReplyWriter(std::string* out, int resp) : out_(out), resp_(resp) {}

  int resp() const { return resp_; }
  void set_resp(int resp) { resp_ = resp; }

  void Simple(std::string_view s);              // +s   (CR/LF in s replaced by spaces)
  // -CODE message (CR/LF replaced by spaces). Text that does not open with a code (an upper-case
  // word of 2+ characters, e.g. "CONFLICT ...", "NOAUTH") gets "ERR " in front; a leading '-' is
  // dropped, so Error("Protocol error: x") writes `-ERR Protocol error: x`.
  void Error(std::string_view code_and_message);
  void Integer(int64_t v);                      // :v
  void Bulk(std::string_view s);                // $len s
  void Null();                                  // RESP2 $-1, RESP3 _
  void NullArray();                             // RESP2 *-1, RESP3 _
  void Array(std::size_t n);                    // *n
  void Map(std::size_t n);                      // RESP3 %n, RESP2 *2n
  void Set(std::size_t n);                      // RESP3 ~n, RESP2 *n
  void Bool(bool b);                            // RESP3 #t/#f, RESP2 :1/:0
  void Double(double d);                        // RESP3 ,d, RESP2 bulk; shortest round-trip
                                                // text, or inf / -inf / nan
  void Verbatim(std::string_view s);            // RESP3 =len txt:s, RESP2 bulk
  void Push(std::size_t n);                     // RESP3 >n, RESP2 *n

 private:
  std::string* out_;
  int resp_;
};

}  // namespace eventful::protocol
