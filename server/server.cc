#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "server/command_table.h"
#include "server/connection.h"
#include "storage/clock.h"
#include "storage/store.h"

namespace eventful::server {
namespace asio = boost::asio;

namespace {

// Live connections, for graceful shutdown. Touched by every I/O thread: mu guards conns.
struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
  bool shutting_down = false;
  std::function<void()> on_empty;  // called once, when shutting down and the last one closed
};

}  // namespace

int RunServer(const ServerConfig& config) {
  std::signal(SIGPIPE, SIG_IGN);

  storage::StoreOptions store_options;
  store_options.path = config.StorePath();
  store_options.cache_events = config.memory_threshold;
  store_options.sync = !config.relaxed_durability;
  store_options.max_event_bytes = config.max_event_bytes;
  store_options.encryption_key = storage::DeriveDataKey(config.dek);
  std::unique_ptr<storage::Store> store;
  if (Status s = storage::Store::Open(store_options, &store); !s.ok()) {
    std::cerr << "eventful: cannot open the store: " << s.message() << std::endl;
    return 1;
  }

  CommandTable table;
  RegisterHousekeepingCommands(table);
  RegisterEventCommands(table);
  RegisterIntegrityCommands(table);
  RegisterTokenCommands(table);
  SetGlobalCommandTable(&table);

  ServerContext ctx;
  ctx.config = &config;
  ctx.store = store.get();
  Authenticator authenticator(config, store.get());
  ctx.auth = &authenticator;
  ctx.started_ms = storage::NowMs();
  // Long commands (VERIFY of the whole store) run here, off the I/O threads.
  asio::thread_pool background(1);
  ctx.run_background = [&background](std::function<void()> work) { asio::post(background, std::move(work)); };

  const int threads = std::max(1, config.io_threads);
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (int i = 0; i < threads; ++i) {
    ios.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*ios.back()));
  }

  asio::ip::tcp::acceptor acceptor(*ios[0]);
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config.bind), static_cast<uint16_t>(config.port));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    std::cerr << "eventful: cannot listen on " << config.bind << ":" << config.port << ": " << e.what() << std::endl;
    return 1;
  }
  ctx.port = acceptor.local_endpoint().port();

  Registry registry;
  asio::signal_set signals(*ios[0], SIGINT, SIGTERM);
  asio::steady_timer force_stop(*ios[0]);
  // Once every connection is gone: release the I/O threads; each run() returns when idle.
  auto finish = [&] {
    force_stop.cancel();
    signals.cancel();
    for (auto& g : guards) g.reset();
  };
  registry.on_empty = [&] { asio::post(*ios[0], finish); };
  auto on_closed = [&registry](uint64_t id) {
    std::function<void()> done;
    {
      std::lock_guard lock(registry.mu);
      registry.conns.erase(id);
      if (registry.shutting_down && registry.conns.empty()) done = std::move(registry.on_empty);
    }
    if (done) done();
  };

  size_t next_io = 0;
  std::function<void()> accept_next;
  accept_next = [&] {
    asio::io_context& target = *ios[next_io++ % ios.size()];
    acceptor.async_accept(target, [&](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        accept_next();
        return;
      }
      auto conn = std::make_shared<Connection>(std::move(socket), ctx, table, on_closed);
      {
        std::lock_guard lock(registry.mu);
        registry.conns.emplace(conn->id(), conn);
      }
      asio::post(target, [conn] { conn->Start(); });
      accept_next();
    });
  };
  accept_next();

  // Graceful shutdown: stop accepting, let every connection finish what is in flight, then stop.
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    std::cout << "eventful: shutting down" << std::endl;
    ctx.stopping = true;  // long background commands give up
    boost::system::error_code ignored;
    acceptor.close(ignored);
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard lock(registry.mu);
      registry.shutting_down = true;
      for (auto& [id, weak] : registry.conns) {
        if (auto c = weak.lock()) live.push_back(std::move(c));
      }
      if (registry.conns.empty()) registry.on_empty = nullptr;
    }
    if (live.empty()) {
      finish();
      return;
    }
    for (auto& c : live) c->PostDrain();
    force_stop.expires_after(std::chrono::seconds(10));
    force_stop.async_wait([&](const boost::system::error_code& tec) {
      if (tec) return;
      std::cerr << "eventful: connections did not finish within 10 s; stopping anyway" << std::endl;
      for (auto& io : ios) io->stop();
    });
  });

  std::cout << "eventful: listening on " << config.bind << ":" << ctx.port << std::endl;

  std::vector<std::thread> workers;
  for (size_t i = 1; i < ios.size(); ++i) workers.emplace_back([&, i] { ios[i]->run(); });
  ios[0]->run();
  for (auto& w : workers) w.join();
  ctx.stopping = true;
  background.join();
  store.reset();  // drains the committer and closes RocksDB (flushes the WAL)
  std::cout << "eventful: stopped" << std::endl;
  return 0;
}

}  // namespace eventful::server
