// Store reads: GET, GETALL, lookups by id/hash, stream listing, counters.
#include <rocksdb/db.h>

#include <filesystem>

#include "storage/codec.h"
#include "storage/event.h"
#include "storage/clock.h"
#include "storage/store_impl.h"

namespace eventful::storage {
namespace {

rocksdb::Slice S(std::string_view v) { return {v.data(), v.size()}; }

bool MatchesFilter(const LogFilter& f, const Event& e) {
  if (f.readable && !f.readable(e.stream)) return false;
  if (!f.streams.empty()) {
    bool any = false;
    for (const auto& p : f.streams) any = any || p.Matches(e.stream);
    if (!any) return false;
  }
  if (!f.types.empty()) {
    bool any = false;
    for (const auto& t : f.types) any = any || t == e.type;
    if (!any) return false;
  }
  if (f.since_ms || f.until_ms) {
    int64_t at = 0;
    if (!ParseRfc3339(e.added_at, &at)) return false;
    if (f.since_ms && at < *f.since_ms) return false;
    if (f.until_ms && at >= *f.until_ms) return false;
  }
  return true;
}

// AGGREGATE:LIST's summary of a stream: two point reads (first and last event), one seek for the
// newest snapshot.
Status Summarize(StoreImpl& impl, const StreamState& st, StreamSummary* out) {
  for (const bool first : {true, false}) {
    const uint64_t version = first ? 1 : st.frontier.size;
    EventRef ev;
    if (Status s = impl.LoadEvent(st.id, version, &ev); !s.ok()) return s;
    Event e;
    std::string why;
    if (!ev || !ParseEventJson(*ev, &e, &why)) {
      return Status::Err("storage corruption: stream '" + out->stream + "' has no readable event at version " +
                         std::to_string(version));
    }
    (first ? out->created_at : out->updated_at) = e.added_at;
  }
  std::unique_ptr<rocksdb::Iterator> it(impl.db()->NewIterator(rocksdb::ReadOptions(), impl.cf(Cf::kSnapshots)));
  it->SeekForPrev(S(EventKey(st.id, UINT64_MAX)));
  if (it->Valid() && it->key().size() == 16 && GetU64BE(std::string_view(it->key().data(), 8)) == st.id) {
    out->snapshot_version = GetU64BE(std::string_view(it->key().data() + 8, 8));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading snapshots");
  std::shared_lock lock(impl.state_mu_);
  out->archived = impl.archived_.count(out->stream) > 0;
  auto schema = impl.schemas_->live.find(std::string(Category(out->stream)));
  out->locked = out->archived || (schema != impl.schemas_->live.end() && schema->second.locked);
  return Status::Ok();
}

}  // namespace

Status ReadStreamEvents(StoreImpl& impl, const ReadRequest& req, std::vector<EventRef>* out) {
  out->clear();
  std::optional<StreamState> st;
  Status s = impl.LookupStream(req.stream, &st);
  if (!s.ok() || !st) return s;
  const uint64_t current = st->frontier.size;
  uint64_t first = 0, n = 0;
  int step = 1;
  if (!req.backward) {
    const uint64_t after = req.version.value_or(0);
    if (after >= current) return Status::Ok();
    first = after + 1;
    n = std::min(req.limit, current - after);
  } else {
    const uint64_t before = std::min(req.version.value_or(current + 1), current + 1);
    if (before <= 1) return Status::Ok();
    first = before - 1;
    n = std::min(req.limit, before - 1);
    step = -1;
  }
  if (impl.cache_.FindRange(st->id, first, n, step, out)) return Status::Ok();

  out->clear();
  auto it = std::make_unique<EventsIterator>(impl.db(), rocksdb::ReadOptions(), impl.cf(Cf::kEvents), impl.cf(Cf::kArchive));
  const std::string start = EventKey(st->id, first);
  if (step > 0) {
    it->Seek(S(start));
  } else {
    it->SeekForPrev(S(start));
  }
  uint64_t expect = first;
  for (; it->Valid() && out->size() < n; step > 0 ? it->Next() : it->Prev()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 16 || GetU64BE(std::string_view(k.data(), 8)) != st->id) break;
    if (GetU64BE(std::string_view(k.data() + 8, 8)) != expect) {
      return Status::Err("storage corruption: stream '" + req.stream + "' is missing version " + std::to_string(expect));
    }
    out->push_back(std::make_shared<const std::string>(it->value().ToString()));
    expect += step;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading stream '" + req.stream + "'");
  if (out->size() != n) {
    return Status::Err("storage corruption: stream '" + req.stream + "' is missing version " + std::to_string(expect));
  }
  return Status::Ok();
}

Status Store::Read(const ReadRequest& req, std::vector<EventRef>* out) { return ReadStreamEvents(*impl_, req, out); }

Status Store::ReadAll(uint64_t after, uint64_t limit, const LogFilter& filter, std::vector<EventRef>* out) {
  out->clear();
  const bool filtered =
      !filter.streams.empty() || !filter.types.empty() || filter.since_ms || filter.until_ms || filter.readable;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(Cf::kLog)));
  for (it->Seek(S(U64Key(after + 1))); it->Valid() && out->size() < limit; it->Next()) {
    rocksdb::Slice v = it->value();
    if (v.size() != kLogValueSize) return Status::Err("storage corruption: bad log entry");
    EventRef ev;
    Status s = impl_->LoadEvent(GetU64BE(std::string_view(v.data(), 8)), GetU64BE(std::string_view(v.data() + 8, 8)), &ev);
    if (!s.ok()) return s;
    if (!ev) return Status::Err("storage corruption: log position names a missing event");
    if (filtered) {
      Event e;
      std::string why;
      if (!ParseEventJson(*ev, &e, &why)) return Status::Err("storage corruption: stored event unreadable: " + why);
      if (!MatchesFilter(filter, e)) continue;
    }
    out->push_back(std::move(ev));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
  return Status::Ok();
}

Status Store::GetById(std::string_view id, EventRef* out) {
  out->reset();
  std::string key;
  rocksdb::Status s = impl_->db()->Get(rocksdb::ReadOptions(), impl_->cf(Cf::kIds), S(id), &key);
  if (s.IsNotFound()) return Status::Ok();
  if (!s.ok()) return FromRocks(s, "reading the id index");
  if (key.size() != 16) return Status::Err("storage corruption: bad id index entry");
  return impl_->LoadEvent(GetU64BE(key), GetU64BE(std::string_view(key).substr(8)), out);
}

Status Store::GetByHash(std::string_view hash_hex, EventRef* out) {
  out->reset();
  Hash h;
  if (!FromHex(hash_hex, &h)) return Status::Ok();
  std::string key;
  rocksdb::Status s = impl_->db()->Get(rocksdb::ReadOptions(), impl_->cf(Cf::kHashes),
                                       rocksdb::Slice(reinterpret_cast<const char*>(h.data()), h.size()), &key);
  if (s.IsNotFound()) return Status::Ok();
  if (!s.ok()) return FromRocks(s, "reading the hash index");
  if (key.size() != 16) return Status::Err("storage corruption: bad hash index entry");
  return impl_->LoadEvent(GetU64BE(key), GetU64BE(std::string_view(key).substr(8)), out);
}

Status Store::PositionOfId(std::string_view id, uint64_t* position) {
  EventRef ev;
  Status s = GetById(id, &ev);
  if (!s.ok()) return s;
  if (!ev) return Status::Err("no such event id '" + std::string(id) + "'");
  Event e;
  std::string why;
  if (!ParseEventJson(*ev, &e, &why)) return Status::Err("storage corruption: stored event unreadable: " + why);
  *position = e.position;
  return Status::Ok();
}

Status Store::ListStreams(const std::optional<Pattern>& pattern, std::string_view after, uint64_t limit,
                          std::vector<StreamSummary>* out, const std::function<bool(std::string_view)>& readable) {
  out->clear();
  std::unique_ptr<rocksdb::Iterator> it(impl_->db()->NewIterator(rocksdb::ReadOptions(), impl_->cf(Cf::kStreams)));
  for (it->Seek(S(after)); it->Valid() && out->size() < limit; it->Next()) {
    std::string_view name(it->key().data(), it->key().size());
    if (!after.empty() && name == after) continue;
    if (pattern && !pattern->Matches(name)) continue;
    if (readable && !readable(name)) continue;
    StreamState st;
    if (!DecodeStreamState(std::string_view(it->value().data(), it->value().size()), &st)) {
      return Status::Err("storage corruption: bad record for stream '" + std::string(name) + "'");
    }
    StreamSummary summary;
    summary.stream = std::string(name);
    summary.version = st.frontier.size;
    summary.root = ToHex(st.frontier.Root());
    if (Status s = Summarize(*impl_, st, &summary); !s.ok()) return s;
    out->push_back(std::move(summary));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing streams");
  return Status::Ok();
}

std::shared_ptr<const SchemaRegistry> Store::Schemas() const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->schemas_;
}

bool Store::IsArchived(std::string_view stream) const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->archived_.count(std::string(stream)) > 0;
}

uint64_t Store::EventCount() const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->log_.size;
}

uint64_t Store::StreamCount() const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->stream_count_;
}

uint64_t Store::EstimateEventCount() const {
  uint64_t n = 0;
  if (!impl_->db()->GetIntProperty(impl_->cf(Cf::kLog), "rocksdb.estimate-num-keys", &n)) return EventCount();
  return n;
}

uint64_t Store::EstimateStreamCount() const {
  uint64_t n = 0;
  if (!impl_->db()->GetIntProperty(impl_->cf(Cf::kStreams), "rocksdb.estimate-num-keys", &n)) return StreamCount();
  return n;
}

Checksum Store::GetChecksum() const {
  std::shared_lock lock(impl_->state_mu_);
  return Checksum{impl_->last_event_id_, ToHex(impl_->log_.Root()), impl_->log_.size};
}

CommitStats Store::GetCommitStats() const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->stats_;
}

uint64_t Store::SizeOnDisk() const {
  uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(impl_->options_.path, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      const auto size = it->file_size(fec);
      if (!fec) total += size;
    }
  }
  return total;
}

}  // namespace eventful::storage
