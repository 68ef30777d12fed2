// RESP2/RESP3 reply encoding.
//
//   simple  +<text>\r\n            error   -<CODE> <message>\r\n     integer :<v>\r\n
//   bulk    $<len>\r\n<bytes>\r\n  null    $-1\r\n (2) | _\r\n (3)   array   *<n>\r\n
//   map     %<n>\r\n (3) | *<2n>   set     ~<n>\r\n (3) | *<n>       push    ><n>\r\n (3) | *<n>
//   bool    #t|#f (3) | :1|:0      double  ,<repr>\r\n (3) | bulk    verbatim =<len+4>\r\ntxt:<s>\r\n
//
// Simple strings and errors cannot hold CR or LF; they are replaced by spaces.

#include "protocol/resp_writer.h"

#include <charconv>
#include <cmath>

namespace eventful::protocol {
namespace {

// Appends `s` with CR and LF turned into spaces.
void AppendLine(std::string* out, std::string_view s) {
  const std::size_t from = out->size();
  out->append(s);
  for (std::size_t i = from; i < out->size(); ++i) {
    char& c = (*out)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
}

void AppendHeader(std::string* out, char type, uint64_t n) {
  char buf[24];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buf, static_cast<std::size_t>(end - buf));
}

// True when `s` opens with an error code: an upper-case word of two or more characters
// ([A-Z][A-Z0-9_]+) followed by a space or the end, as in "CONFLICT expected ..." or "NOAUTH".
bool StartsWithCode(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] != ' ') {
    const char c = s[i];
    const bool upper = c >= 'A' && c <= 'Z';
    if (!(upper || (i > 0 && ((c >= '0' && c <= '9') || c == '_')))) return false;
    ++i;
  }
  return i >= 2;
}

// Shortest text that reads back as `d`; "inf", "-inf" and "nan" for the special values.
std::string_view DoubleText(double d, char (&buf)[32]) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  const auto r = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
}

}  // namespace

void ReplyWriter::Simple(std::string_view s) {
  out_->push_back('+');
  AppendLine(out_, s);
  out_->append("\r\n");
}

void ReplyWriter::Error(std::string_view code_and_message) {
  if (!code_and_message.empty() && code_and_message[0] == '-') code_and_message.remove_prefix(1);
  out_->push_back('-');
  if (!StartsWithCode(code_and_message)) out_->append(code_and_message.empty() ? "ERR" : "ERR ");
  AppendLine(out_, code_and_message);
  out_->append("\r\n");
}

void ReplyWriter::Integer(int64_t v) {
  char buf[24];
  buf[0] = ':';
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buf, static_cast<std::size_t>(end - buf));
}

void ReplyWriter::Bulk(std::string_view s) {
  AppendHeader(out_, '$', s.size());
  out_->append(s);
  out_->append("\r\n");
}

void ReplyWriter::Null() { out_->append(resp_ >= 3 ? "_\r\n" : "$-1\r\n"); }

void ReplyWriter::NullArray() { out_->append(resp_ >= 3 ? "_\r\n" : "*-1\r\n"); }

void ReplyWriter::Array(std::size_t n) { AppendHeader(out_, '*', n); }

void ReplyWriter::Map(std::size_t n) {
  if (resp_ >= 3) {
    AppendHeader(out_, '%', n);
  } else {
    AppendHeader(out_, '*', uint64_t{n} * 2);
  }
}

void ReplyWriter::Set(std::size_t n) { AppendHeader(out_, resp_ >= 3 ? '~' : '*', n); }

void ReplyWriter::Bool(bool b) {
  if (resp_ >= 3) {
    out_->append(b ? "#t\r\n" : "#f\r\n");
  } else {
    out_->append(b ? ":1\r\n" : ":0\r\n");
  }
}

void ReplyWriter::Double(double d) {
  char buf[32];
  const std::string_view text = DoubleText(d, buf);
  if (resp_ >= 3) {
    out_->push_back(',');
    out_->append(text);
    out_->append("\r\n");
  } else {
    Bulk(text);
  }
}

void ReplyWriter::Verbatim(std::string_view s) {
  if (resp_ >= 3) {
    AppendHeader(out_, '=', s.size() + 4);
    out_->append("txt:");
    out_->append(s);
    out_->append("\r\n");
  } else {
    Bulk(s);
  }
}

void ReplyWriter::Push(std::size_t n) { AppendHeader(out_, resp_ >= 3 ? '>' : '*', n); }

}  // namespace eventful::protocol
