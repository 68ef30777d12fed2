// The cost of encryption at rest, measured at the store: the same workload against a plain and an
// encrypted store (storage/encryption.h), alternating A B A B in one run, printing the ratio
// encrypted/plain for
//   a. durable single-event appends from 50 concurrent writers (group commit, WAL sync each group);
//   b. reads of 100 events of a 1,000-event stream from files (recent-event cache off, block cache
//      cold at the start of each round, so reads decrypt).
// This isolates what encryption adds to the storage path; over the network the same cost is a
// smaller share of each request, so the end-to-end ratio can only be closer to 1.
//
//   build/bin/eventful_store_bench [rounds=3] [appends=20000] [reads=20000]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "storage/encryption.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using namespace eventful::storage;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<Store> OpenAt(const fs::path& dir, bool encrypted) {
  StoreOptions o;
  o.path = dir.string();
  o.cache_events = 0;  // every read goes to RocksDB (and decrypts when encrypted)
  if (encrypted) o.encryption_key = DeriveDataKey("evd_bench-key");
  std::unique_ptr<Store> store;
  eventful::Status s = Store::Open(o, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "cannot open the store: %s\n", s.message().c_str());
    std::exit(1);
  }
  return store;
}

AppendRequest OneEvent(const std::string& stream) {
  AppendRequest r;
  StreamAppend sa;
  sa.stream = stream;
  EventInput e;
  e.type = "t";
  e.data.fields = {{"p", std::string(150, 'x')}};
  sa.events.push_back(std::move(e));
  r.streams.push_back(std::move(sa));
  r.actor = "bench";
  return r;
}

// 50 writers, each appending its share one at a time (waiting for durability): appends/s.
double Appends(Store& store, int total) {
  constexpr int kWriters = 50;
  std::atomic<int> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < total; i += kWriters) {
        std::promise<bool> done;
        store.Append(OneEvent("b." + std::to_string(i % 10000)),
                     [&done](eventful::Status s, std::vector<EventRef>) { done.set_value(s.ok()); });
        if (!done.get_future().get()) failed.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed.load() != 0) {
    std::fprintf(stderr, "%d appends failed\n", failed.load());
    std::exit(1);
  }
  return total / secs;
}

// GET of 100 events at random offsets of a 1,000-event stream, from 2 threads: reads/s.
double Reads(Store& store, int total) {
  const auto t0 = Clock::now();
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      uint64_t x = 88172645463325252ull + t;
      for (int i = t; i < total; i += 2) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ReadRequest r;
        r.stream = "read.1";
        r.version = x % 900;
        r.limit = 100;
        std::vector<EventRef> out;
        if (!store.Read(r, &out).ok() || out.size() != 100) bad.fetch_add(1);
      }
    });
  }
  for (auto& t : readers) t.join();
  if (bad.load() != 0) {
    std::fprintf(stderr, "%d reads failed\n", bad.load());
    std::exit(1);
  }
  return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  const int appends = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int reads = argc > 3 ? std::atoi(argv[3]) : 20000;
  const fs::path root = fs::temp_directory_path() / ("eventful-store-bench-" + std::to_string(::getpid()));
  std::vector<double> ratio_a, ratio_b;
  for (int round = 1; round <= rounds; ++round) {
    double a[2], b[2];
    for (int enc = 0; enc < 2; ++enc) {
      const fs::path dir = root / (enc ? "encrypted" : "plain");
      fs::remove_all(dir);
      fs::create_directories(dir.parent_path());
      {
        auto store = OpenAt(dir, enc);
        a[enc] = Appends(*store, appends);
        AppendRequest big;
        for (int i = 0; i < 1000; ++i) {
          AppendRequest one = OneEvent("read.1");
          if (big.streams.empty()) big = std::move(one);
          else big.streams[0].events.push_back(std::move(one.streams[0].events[0]));
        }
        std::promise<bool> done;
        store->Append(std::move(big), [&done](eventful::Status s, std::vector<EventRef>) { done.set_value(s.ok()); });
        if (!done.get_future().get()) return 1;
      }
      auto store = OpenAt(dir, enc);  // reopened: cold caches, data read back from the files
      b[enc] = Reads(*store, reads);
      std::printf("round %d %-9s  appends %8.0f/s   reads %8.0f/s\n", round, enc ? "encrypted" : "plain", a[enc], b[enc]);
      std::fflush(stdout);
    }
    ratio_a.push_back(a[1] / a[0]);
    ratio_b.push_back(b[1] / b[0]);
  }
  fs::remove_all(root);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double ma = median(ratio_a), mb = median(ratio_b);
  std::printf("ratio encrypted/plain: durable appends %.2fx, reads %.2fx (median of %d rounds); "
              "target >= 0.85x: %s\n",
              ma, mb, rounds, ma >= 0.85 && mb >= 0.85 ? "met" : "NOT met");
  return 0;
}
