#include "server/stream.h"

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

namespace eventful::server {
namespace asio = boost::asio;
namespace {

class PlainStream : public Stream {
 public:
  explicit PlainStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  void AsyncHandshake(std::function<void(const boost::system::error_code&)> done) override { done({}); }
  void AsyncReadSome(asio::mutable_buffer buffer, Handler done) override { socket_.async_read_some(buffer, std::move(done)); }
  void AsyncWrite(asio::const_buffer buffer, Handler done) override { asio::async_write(socket_, buffer, std::move(done)); }
  asio::any_io_executor executor() override { return socket_.get_executor(); }
  void ShutdownReceive() override {
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  }
  void Close() override {
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  asio::ip::tcp::socket socket_;
};

class TlsStream : public Stream {
 public:
  TlsStream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> context)
      : context_(std::move(context)), stream_(std::move(socket), *context_) {}
  void AsyncHandshake(std::function<void(const boost::system::error_code&)> done) override {
    stream_.async_handshake(asio::ssl::stream_base::server, std::move(done));
  }
  void AsyncReadSome(asio::mutable_buffer buffer, Handler done) override { stream_.async_read_some(buffer, std::move(done)); }
  void AsyncWrite(asio::const_buffer buffer, Handler done) override { asio::async_write(stream_, buffer, std::move(done)); }
  asio::any_io_executor executor() override { return stream_.get_executor(); }
  void ShutdownReceive() override {
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  }
  void Close() override {
    // No TLS close_notify exchange: the connection is done either way, and waiting for a peer
    // that may never answer would hold the close up.
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

 private:
  std::shared_ptr<asio::ssl::context> context_;  // outlives stream_ (declared first)
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
};

}  // namespace

bool Stream::IsEndOfStream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

std::unique_ptr<Stream> MakePlainStream(asio::ip::tcp::socket socket) {
  boost::system::error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::make_unique<PlainStream>(std::move(socket));
}

std::unique_ptr<Stream> MakeTlsStream(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> context) {
  boost::system::error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::make_unique<TlsStream>(std::move(socket), std::move(context));
}

}  // namespace eventful::server
