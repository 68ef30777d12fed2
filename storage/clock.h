// Wall-clock time and RFC 3339 text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eventful::storage {

// Milliseconds since the Unix epoch (system clock).
int64_t NowMs();
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, always exactly 24 characters).
std::string FormatRfc3339Ms(int64_t ms);
// Any RFC 3339 date-time: "2026-11-23T10:00:00Z", "...T10:00:00.5+02:00", lowercase t/z allowed,
// any number of fraction digits (truncated to milliseconds). Returns false on anything else,
// including impossible dates (2026-02-30) and hours > 23.
bool ParseRfc3339(std::string_view text, int64_t* ms);

}  // namespace eventful::storage
