// Monotonic ULIDs: 10 Crockford base32 characters of a 48-bit millisecond timestamp, then 16 of
// 80 random bits (OpenSSL RAND_bytes). Within one millisecond, or when the clock goes back, the
// random part is incremented as an 80-bit big-endian integer; if it overflows, the timestamp
// moves on by one millisecond and the random part is drawn anew.
#include "storage/ulid.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace eventful::storage {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int64_t kMaxMs = (int64_t{1} << 48) - 1;

void FillRandom(unsigned char* buf, int len) {
  if (RAND_bytes(buf, len) != 1) {
    // The CSPRNG is unusable; handing out guessable or repeated ids is worse than stopping.
    std::fputs("eventful: RAND_bytes failed\n", stderr);
    std::abort();
  }
}

// Adds one to a big-endian integer; returns false if it wrapped around to zero.
bool Increment(unsigned char* bytes, size_t len) {
  for (size_t i = len; i-- > 0;) {
    if (++bytes[i] != 0) return true;
  }
  return false;
}

}  // namespace

std::string UlidGenerator::Next(int64_t now_ms) {
  if (now_ms < 0) now_ms = 0;
  if (now_ms > kMaxMs) now_ms = kMaxMs;
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    FillRandom(random_, sizeof(random_));
  } else if (!Increment(random_, sizeof(random_))) {
    ++last_ms_;
    FillRandom(random_, sizeof(random_));
  }

  std::string out(26, '0');
  auto t = static_cast<uint64_t>(last_ms_);
  for (int i = 9; i >= 0; --i) {
    out[i] = kAlphabet[t & 31];
    t >>= 5;
  }
  // 80 bits = 16 groups of 5, most significant first; two 40-bit halves of 8 characters each.
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = 0;
    for (int i = 0; i < 5; ++i) bits = bits << 8 | random_[half * 5 + i];
    for (int i = 7; i >= 0; --i) {
      out[10 + half * 8 + i] = kAlphabet[bits & 31];
      bits >>= 5;
    }
  }
  return out;
}

}  // namespace eventful::storage
