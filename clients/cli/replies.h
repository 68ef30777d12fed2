// Helpers shared by the client subcommands: sending a command, checking and printing its reply.
// Errors are printed to stderr as "error: ..." (the caller returns exit code 1).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "clients/cli/connection.h"

namespace eventful::cli {

namespace dom = simdjson::dom;

// Prints "error: <message>" to stderr; returns 1, the exit code for an error.
int Fail(const std::string& message);

// A string reply's bytes (valid while the reply lives).
inline std::string_view Text(const redisReply* r) { return {r->str, r->len}; }

// Writes s and a newline to stdout.
void PrintLine(std::string_view s);

// Any RESP2 reply as JSON text (arrays → arrays, integers → numbers, nil → null).
std::string ReplyToJson(const redisReply* r);

// A JSON value as text for people: strings unquoted, everything else as compact JSON.
std::string Plain(dom::element e);
// o[key] as Plain text / as compact JSON; "" when absent.
std::string Field(dom::object o, std::string_view key);
std::string JsonField(dom::object o, std::string_view key);
// o[key] when it is true; false when it is false, absent or not a boolean.
bool BoolField(dom::object o, std::string_view key);

// Parses a bulk reply holding one JSON object. Prints an error and returns false otherwise.
bool ParseObject(dom::parser& parser, const redisReply* r, dom::object* out);

// Sends one command; null (after printing the error) on an I/O failure or an error reply.
Reply Send(Connection& c, const std::vector<std::string>& args);

// Sends `command json` on a new connection; with --json prints the raw reply, else parses it as one
// object and hands it to human(). Returns the exit code.
int SendObject(const ConnectionOptions& connection, const std::string& command, const std::string& json,
               const std::function<void(dom::object)>& human);

// True when r is an array; prints an error otherwise.
bool IsJsonArray(const redisReply* r);

// An array reply of JSON objects, one per line: the raw JSON with --json (`json`), else human(object).
// Returns the exit code: 1 (after printing the error) when the reply is not such an array, else 0.
int PrintObjects(const redisReply* reply, bool json, const std::function<void(dom::object)>& human);

// One stored event of an ADD reply for people: "added patient.42 v3 patient-updated (id …, position …)".
void PrintAdded(dom::object event);

}  // namespace eventful::cli
