// Outcome of an operation, carrying one of the contract's error codes (PROTOCOL.md §3).
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace eventful {

enum class Code { kOk, kErr, kNoAuth, kWrongPass, kNoPerm, kConflict, kInvalid, kLocked, kLimit };

// The wire spelling of a code: "ERR", "NOAUTH", ...
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status Err(std::string m) { return {Code::kErr, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status Limit(std::string m) { return {Code::kLimit, std::move(m)}; }
  static Status NoPerm(std::string m) { return {Code::kNoPerm, std::move(m)}; }
  static Status NoAuth(std::string m) { return {Code::kNoAuth, std::move(m)}; }
  static Status Locked(std::string m) { return {Code::kLocked, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE message", the text of a RESP error reply.
  std::string ToWire() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace eventful
