#include "storage/status.h"

namespace eventful {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kErr: return "ERR";
    case Code::kNoAuth: return "NOAUTH";
    case Code::kWrongPass: return "WRONGPASS";
    case Code::kNoPerm: return "NOPERM";
    case Code::kConflict: return "CONFLICT";
    case Code::kInvalid: return "INVALID";
    case Code::kLocked: return "LOCKED";
    case Code::kLimit: return "LIMIT";
  }
  return "ERR";
}

std::string Status::ToWire() const {
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ' ';
    out += message_;
  }
  return out;
}

}  // namespace eventful
