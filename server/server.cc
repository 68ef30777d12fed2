#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "server/command_table.h"
#include "server/connection.h"
#include "server/stream.h"
#include "server/tls.h"
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
  store_options.strict_schemas = config.strict_schemas;
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
  RegisterSchemaCommands(table);
  RegisterAggregateCommands(table);
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

  // TLS: the context new connections use; SIGHUP swaps in a freshly loaded one.
  std::mutex tls_mu;
  std::shared_ptr<asio::ssl::context> tls_context;  // guarded by tls_mu
  if (config.tls.port) {
    if (Status s = MakeTlsContext(config.tls, &tls_context); !s.ok()) {
      std::cerr << "eventful: " << s.message() << std::endl;
      return 1;
    }
  }
  auto listen = [&](asio::ip::tcp::acceptor& a, int port) {
    try {
      asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config.bind), static_cast<uint16_t>(port));
      a.open(endpoint.protocol());
      a.set_option(asio::ip::tcp::acceptor::reuse_address(true));
      a.bind(endpoint);
      a.listen(asio::socket_base::max_listen_connections);
      return true;
    } catch (const std::exception& e) {
      std::cerr << "eventful: cannot listen on " << config.bind << ":" << port << ": " << e.what() << std::endl;
      return false;
    }
  };
  asio::ip::tcp::acceptor acceptor(*ios[0]);      // plain text (unless --tls-only)
  asio::ip::tcp::acceptor tls_acceptor(*ios[0]);  // TLS (with --tls-port)
  if (!config.tls.tls_only && !listen(acceptor, config.port)) return 1;
  if (config.tls.port && !listen(tls_acceptor, *config.tls.port)) return 1;
  const uint16_t tls_port = config.tls.port ? tls_acceptor.local_endpoint().port() : 0;
  ctx.port = config.tls.tls_only ? tls_port : acceptor.local_endpoint().port();

  Registry registry;
  asio::signal_set signals(*ios[0], SIGINT, SIGTERM);
  asio::signal_set reload(*ios[0], SIGHUP);
  asio::steady_timer force_stop(*ios[0]);
  // Once every connection is gone: release the I/O threads; each run() returns when idle.
  auto finish = [&] {
    force_stop.cancel();
    signals.cancel();
    reload.cancel();
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
  std::function<void(asio::ip::tcp::acceptor&, bool)> accept_next;
  accept_next = [&](asio::ip::tcp::acceptor& from, bool tls) {
    asio::io_context& target = *ios[next_io++ % ios.size()];
    from.async_accept(target, [&, tls](const boost::system::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !from.is_open()) return;
        accept_next(from, tls);
        return;
      }
      std::unique_ptr<Stream> stream;
      if (tls) {
        std::lock_guard lock(tls_mu);
        stream = MakeTlsStream(std::move(socket), tls_context);
      } else {
        stream = MakePlainStream(std::move(socket));
      }
      auto conn = std::make_shared<Connection>(std::move(stream), ctx, table, on_closed);
      {
        std::lock_guard lock(registry.mu);
        registry.conns.emplace(conn->id(), conn);
      }
      asio::post(target, [conn] { conn->Start(); });
      accept_next(from, tls);
    });
  };
  if (acceptor.is_open()) accept_next(acceptor, false);
  if (tls_acceptor.is_open()) accept_next(tls_acceptor, true);

  // SIGHUP: reload the TLS certificate, key and CA; connections already open keep their context.
  std::function<void()> wait_reload;
  wait_reload = [&] {
    reload.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (config.tls.port) {
        std::shared_ptr<asio::ssl::context> fresh;
        if (Status s = MakeTlsContext(config.tls, &fresh); !s.ok()) {
          std::cerr << "eventful: SIGHUP: keeping the current TLS certificate: " << s.message() << std::endl;
        } else {
          std::lock_guard lock(tls_mu);
          tls_context = std::move(fresh);
          std::cout << "eventful: SIGHUP: TLS certificate, key and CA reloaded" << std::endl;
        }
      }
      wait_reload();
    });
  };
  wait_reload();

  // Graceful shutdown: stop accepting, let every connection finish what is in flight, then stop.
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    std::cout << "eventful: shutting down" << std::endl;
    ctx.stopping = true;  // long background commands give up
    boost::system::error_code ignored;
    acceptor.close(ignored);
    tls_acceptor.close(ignored);
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

  if (config.tls.tls_only) {
    std::cout << "eventful: TLS only; listening on " << config.bind << ":" << ctx.port << std::endl;
  } else {
    if (config.tls.port) std::cout << "eventful: TLS on " << config.bind << ":" << tls_port << std::endl;
    std::cout << "eventful: listening on " << config.bind << ":" << ctx.port << std::endl;
  }

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
