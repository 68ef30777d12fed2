#include "server/connection.h"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <boost/asio/write.hpp>

#include "protocol/resp_writer.h"

namespace eventful::server {
namespace asio = boost::asio;

namespace {
// PROTOCOL.md §1: before AUTH, at most 10 arguments and 16 KiB per bulk.
constexpr std::size_t kPreAuthArgs = 10;
constexpr std::size_t kPreAuthBulk = 16 * 1024;
// Async replies (ADD) one connection may have in flight before it stops reading.
constexpr std::size_t kMaxAsyncInFlight = 1024;
// Unparsed input kept while commands wait for earlier async replies.
constexpr std::size_t kWaitingBufferLimit = 1u << 20;
// Reply bytes queued before the connection stops reading (a client that does not read).
constexpr std::size_t kOutputLimit = 64u << 20;
// Like Redis' client-query-buffer-limit: no single command may buffer more than this.
constexpr std::size_t kQueryBufferLimit = 1u << 30;
}  // namespace

Connection::Connection(std::unique_ptr<Stream> stream, ServerContext& server, const CommandTable& table, OnClosed on_closed)
    : stream_(std::move(stream)), server_(server), table_(table), on_closed_(std::move(on_closed)) {
  session_.client_id = server_.next_client_id.fetch_add(1);
  server_.connected_clients.fetch_add(1);
  server_.total_connections.fetch_add(1);
}

Connection::~Connection() { server_.connected_clients.fetch_sub(1); }

void Connection::Start() {
  reading_ = true;  // nothing else may read before the handshake is done
  stream_->AsyncHandshake([self = shared_from_this()](const boost::system::error_code& ec) {
    self->reading_ = false;
    if (ec) {
      self->server_.rejected_connections.fetch_add(1);
      self->Close();
      return;
    }
    self->MaybeRead();
  });
}

void Connection::BeginDrain() {
  if (closed_) return;
  closing_ = true;
  stream_->ShutdownReceive();
  MaybeClose();
}

void Connection::PostDrain() {
  asio::post(stream_->executor(), [self = shared_from_this()] { self->BeginDrain(); });
}

void Connection::MaybeRead() {
  if (reading_ || closing_ || closed_ || peer_closed_) return;
  if (async_pending_ >= kMaxAsyncInFlight) return;
  if (out_.size() + writing_.size() > kOutputLimit) return;
  if (waiting_ && in_.size() - in_off_ > kWaitingBufferLimit) return;
  reading_ = true;
  stream_->AsyncReadSome(asio::buffer(read_buf_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                              std::size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(const boost::system::error_code& ec, std::size_t n) {
  reading_ = false;
  if (Stream::IsEndOfStream(ec)) {
    // The peer finished sending: answer what it sent, then close.
    peer_closed_ = true;
    Process();
    return;
  }
  if (ec) {
    // Reset or closing. Async work in flight still completes in the store; its reply is dropped.
    closing_ = true;
    Close();
    return;
  }
  in_.append(read_buf_.data(), n);
  Process();
}

void Connection::Process() {
  const std::size_t max_bulk = server_.config->max_bulk;
  const std::size_t max_args = server_.config->max_args;
  waiting_ = false;
  while (!closing_ && in_off_ < in_.size()) {
    protocol::Limits limits;
    if (session_.identity.authenticated) {
      limits.max_bulk = max_bulk;
      limits.max_args = max_args;
    } else {
      limits.max_bulk = kPreAuthBulk;
      limits.max_args = kPreAuthArgs;
      limits.max_inline = kPreAuthBulk;
    }
    const std::string_view input(in_.data() + in_off_, in_.size() - in_off_);
    protocol::ParseResult r = protocol::Parse(input, limits, &cmd_);
    if (r.status == protocol::ParseStatus::kNeedMore) {
      in_off_ += r.consumed;
      // A command can never need more than its limits allow (plus framing), and never more than
      // the query buffer limit; beyond that the client is not speaking RESP.
      const std::size_t limit = std::min<std::size_t>(limits.max_args * (limits.max_bulk + 32) + (64u << 10), kQueryBufferLimit);
      if (in_.size() - in_off_ > limit) {
        r.status = protocol::ParseStatus::kError;
        r.error = "Protocol error: query buffer limit exceeded";
      } else {
        break;
      }
    }
    if (r.status == protocol::ParseStatus::kError) {
      std::string bytes;
      protocol::ReplyWriter w(&bytes, session_.resp);
      w.Error("ERR " + r.error);
      if (slots_.empty()) {
        out_ += bytes;
      } else {
        auto slot = std::make_shared<Slot>();
        slot->bytes = std::move(bytes);
        slot->ready = true;
        slots_.push_back(std::move(slot));
      }
      closing_ = true;
      break;
    }
    if (async_pending_ > 0) {
      const CommandSpec* spec = table_.Find(cmd_.argv[0]);
      const bool async = spec && (spec->flags & kAsync) && session_.identity.authenticated;
      if (!async || async_pending_ >= kMaxAsyncInFlight) {
        waiting_ = true;  // reads must see earlier writes: wait for them
        break;
      }
    }
    in_off_ += r.consumed;
    Execute(cmd_.argv);
    if (session_.close_after_reply) closing_ = true;
  }
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > (256u << 10)) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
  FlushReady();
  MaybeRead();
  MaybeClose();
}

void Connection::Execute(std::span<const std::string_view> argv) {
  std::shared_ptr<Slot> slot;
  std::string* target = &out_;
  if (!slots_.empty()) {
    slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    target = &slot->bytes;
  }
  protocol::ReplyWriter writer(target, session_.resp);
  bool deferred = false;
  auto defer = [&]() -> DeferredReply {
    deferred = true;
    if (!slot) {
      slot = std::make_shared<Slot>();
      slots_.push_back(slot);
    }
    ++async_pending_;
    auto executor = stream_->executor();
    return [self = shared_from_this(), slot, executor](ReplyFn write) {
      asio::post(executor, [self, slot, write = std::move(write)]() {
        --self->async_pending_;
        if (self->closed_) return;
        protocol::ReplyWriter w(&slot->bytes, self->session_.resp);
        write(w);
        slot->ready = true;
        self->Process();
      });
    };
  };
  CommandContext ctx{server_, session_, argv, writer, defer};
  table_.Dispatch(ctx);
  if (slot && !deferred) slot->ready = true;
}

void Connection::FlushReady() {
  while (!slots_.empty() && slots_.front()->ready) {
    out_ += slots_.front()->bytes;
    slots_.pop_front();
  }
  if (write_in_flight_ || out_.empty() || closed_) return;
  write_in_flight_ = true;
  writing_.swap(out_);
  out_.clear();
  stream_->AsyncWrite(asio::buffer(writing_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) { self->OnWrite(ec); });
}

void Connection::OnWrite(const boost::system::error_code& ec) {
  write_in_flight_ = false;
  writing_.clear();
  if (ec) {
    closing_ = true;
    Close();
    return;
  }
  FlushReady();
  MaybeRead();
  MaybeClose();
}

void Connection::MaybeClose() {
  if (closed_ || !(closing_ || (peer_closed_ && !waiting_))) return;
  if (write_in_flight_ || !out_.empty() || async_pending_ > 0) return;
  if (!slots_.empty() && slots_.front()->ready) return;
  Close();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  stream_->Close();
  if (on_closed_) on_closed_(session_.client_id);
}

}  // namespace eventful::server
