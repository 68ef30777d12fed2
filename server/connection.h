// One client connection: reads bytes, parses RESP commands (pipelined), dispatches them through
// the command table and writes replies in command order, one write per batch of ready replies.
//
// Threading: a Connection lives on one io_context (one I/O thread); every member is touched only
// from that thread. Async replies (ADD) arrive from the store's committer thread and are posted
// back to the connection's executor.
#pragma once


#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "protocol/resp_parser.h"
#include "server/command_table.h"
#include "server/session.h"
#include "server/stream.h"

namespace eventful::server {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using OnClosed = std::function<void(uint64_t client_id)>;
  Connection(std::unique_ptr<Stream> stream, ServerContext& server, const CommandTable& table, OnClosed on_closed);
  ~Connection();

  // Runs the stream's handshake (TLS), then reads commands. A failed handshake closes quietly.
  void Start();
  // Graceful shutdown: take no new commands, finish the ones in flight, flush replies, close.
  void BeginDrain();
  // BeginDrain() on the connection's own thread; callable from any thread.
  void PostDrain();
  uint64_t id() const { return session_.client_id; }

 private:
  struct Slot {
    std::string bytes;
    bool ready = false;
  };

  void MaybeRead();
  void OnRead(const boost::system::error_code& ec, std::size_t n);
  void Process();
  void Execute(std::span<const std::string_view> argv);
  void FlushReady();
  void OnWrite(const boost::system::error_code& ec);
  void MaybeClose();
  void Close();

  std::unique_ptr<Stream> stream_;
  ServerContext& server_;
  const CommandTable& table_;
  OnClosed on_closed_;
  Session session_;

  std::array<char, 64 * 1024> read_buf_;
  std::string in_;           // received, unparsed bytes start at in_off_
  std::size_t in_off_ = 0;
  protocol::Command cmd_;
  std::deque<std::shared_ptr<Slot>> slots_;  // replies queued behind an unfinished async reply
  std::string out_;          // ready reply bytes not yet handed to a write
  std::string writing_;      // bytes of the write in progress
  std::size_t async_pending_ = 0;
  bool reading_ = false;
  bool write_in_flight_ = false;
  bool waiting_ = false;     // a parsed command waits for earlier async replies
  bool closing_ = false;     // no more commands; close once everything is flushed
  bool closed_ = false;
  bool peer_closed_ = false; // EOF read: finish what was sent, then close
};

}  // namespace eventful::server
