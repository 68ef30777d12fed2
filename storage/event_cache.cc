#include "storage/event_cache.h"

#include <vector>

namespace eventful::storage {

void EventCache::Insert(uint64_t stream_id, uint64_t version, Ref event) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  auto [it, inserted] = map_.insert_or_assign(Key{stream_id, version}, std::move(event));
  if (!inserted) return;
  fifo_.push_back(it->first);
  while (fifo_.size() > capacity_) {
    map_.erase(fifo_.front());
    fifo_.pop_front();
  }
}

EventCache::Ref EventCache::Find(uint64_t stream_id, uint64_t version) const {
  if (capacity_ == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = map_.find(Key{stream_id, version});
  return it == map_.end() ? nullptr : it->second;
}

bool EventCache::FindRange(uint64_t stream_id, uint64_t first, uint64_t n, int step,
                           std::vector<Ref>* out) const {
  if (capacity_ == 0) return false;
  out->clear();
  out->reserve(n);
  std::lock_guard lock(mu_);
  uint64_t v = first;
  for (uint64_t i = 0; i < n; ++i, v += step) {
    auto it = map_.find(Key{stream_id, v});
    if (it == map_.end()) return false;
    out->push_back(it->second);
  }
  return true;
}

}  // namespace eventful::storage
