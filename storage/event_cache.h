// Bounded FIFO cache of recently written events, keyed by (stream id, version). Serves hot reads
// (GET of a stream's latest events, GETALL near the head of the log) without touching RocksDB.
//
// Thread-safety: all methods are safe to call concurrently; mu_ guards map_ and fifo_.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eventful::storage {

class EventCache {
 public:
  using Ref = std::shared_ptr<const std::string>;
  explicit EventCache(uint64_t capacity) : capacity_(capacity) {}

  void Insert(uint64_t stream_id, uint64_t version, Ref event);
  // Null when not cached.
  Ref Find(uint64_t stream_id, uint64_t version) const;
  // Fills out[i] = event (stream_id, first + i*step) for i < n; false (and out unspecified) as soon
  // as one is missing. step is +1 or -1.
  bool FindRange(uint64_t stream_id, uint64_t first, uint64_t n, int step, std::vector<Ref>* out) const;

 private:
  struct Key {
    uint64_t stream_id;
    uint64_t version;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.stream_id * 0x9E3779B97F4A7C15ull ^ k.version); }
  };

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Ref, KeyHash> map_;  // guarded by mu_
  std::deque<Key> fifo_;                       // guarded by mu_
};

}  // namespace eventful::storage
