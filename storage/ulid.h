// Monotonic ULIDs (26 Crockford base32 characters: 48-bit ms timestamp, 80 random bits).
// Within one millisecond (or if the clock goes back) the random part is incremented by one, so
// ids from one generator strictly increase. Not thread-safe: one generator per writer thread.
#pragma once

#include <cstdint>
#include <string>

namespace eventful::storage {

class UlidGenerator {
 public:
  std::string Next(int64_t now_ms);

 private:
  int64_t last_ms_ = -1;
  unsigned char random_[10] = {};
};

}  // namespace eventful::storage
