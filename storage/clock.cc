// Wall-clock time and RFC 3339 text, with civil-calendar arithmetic that depends on no locale or
// time zone database (H. Hinnant's days_from_civil / civil_from_days, proleptic Gregorian).
#include "storage/clock.h"

#include <chrono>

namespace eventful::storage {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Days since 1970-01-01 of y-m-d.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t y;
  unsigned m, d;
};

constexpr Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;                             // [1, 31]
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;                                // [1, 12]
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11017).y == 2000 && CivilFromDays(11017).m == 3);

// The range that fits "YYYY": 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z.
constexpr int64_t kMinMs = DaysFromCivil(0, 1, 1) * kMsPerDay;
constexpr int64_t kMaxMs = DaysFromCivil(10000, 1, 1) * kMsPerDay - 1;

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

void PutDigits(char* p, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// Reads exactly `width` ASCII digits at text[*pos].
bool ReadDigits(std::string_view text, size_t* pos, int width, int* out) {
  if (text.size() - *pos < static_cast<size_t>(width)) return false;
  int v = 0;
  for (int i = 0; i < width; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += width;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string FormatRfc3339Ms(int64_t ms) {
  // Instants outside years 0000-9999 cannot be written in this format; they are clamped.
  if (ms < kMinMs) ms = kMinMs;
  if (ms > kMaxMs) ms = kMaxMs;
  int64_t days = ms / kMsPerDay;
  int64_t rem = ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  const Civil c = CivilFromDays(days);
  std::string out = "0000-00-00T00:00:00.000Z";
  PutDigits(&out[0], c.y, 4);
  PutDigits(&out[5], c.m, 2);
  PutDigits(&out[8], c.d, 2);
  PutDigits(&out[11], rem / 3'600'000, 2);
  PutDigits(&out[14], rem / 60'000 % 60, 2);
  PutDigits(&out[17], rem / 1000 % 60, 2);
  PutDigits(&out[20], rem % 1000, 3);
  return out;
}

bool ParseRfc3339(std::string_view text, int64_t* ms) {
  // date-time = full-date ("T" / "t") full-time; full-time = HH:MM:SS [.frac] ("Z" / "z" / ±HH:MM)
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &day)) {
    return false;
  }
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return false;
  ++pos;
  if (!ReadDigits(text, &pos, 2, &hour) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &minute) || !Expect(text, &pos, ':') ||
      !ReadDigits(text, &pos, 2, &second)) {
    return false;
  }
  // A leap second (60) is rejected: the store's clock never produces one.
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return false;
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  int64_t offset_min = 0;
  if (pos >= text.size()) return false;  // the zone is required
  const char zone = text[pos++];
  if (zone == '+' || zone == '-') {
    int oh, om;
    if (!ReadDigits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') ||
        !ReadDigits(text, &pos, 2, &om) || oh > 23 || om > 59) {
      return false;
    }
    offset_min = (zone == '+' ? 1 : -1) * (oh * 60 + om);
  } else if (zone != 'Z' && zone != 'z') {
    return false;
  }
  if (pos != text.size()) return false;
  *ms = DaysFromCivil(year, month, day) * kMsPerDay +
        ((hour * 60 + minute) * 60LL + second) * 1000 + millis - offset_min * 60'000;
  return true;
}

}  // namespace eventful::storage
