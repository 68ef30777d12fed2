// A connection's byte stream: a plain TCP socket, or TLS over one (server side). Connection talks
// to this interface only, so the data path is the same for both; the TLS machinery (Boost.Asio's
// ssl::stream, OpenSSL) stays in stream.cc.
//
// Threading: like its Connection, touched only from its io_context's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>

namespace boost::asio::ssl {
class context;
}

namespace eventful::server {

class Stream {
 public:
  using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;

  virtual ~Stream() = default;
  // TLS: the server handshake (errors: a plain client, a bad or missing client certificate);
  // plain: completes at once.
  virtual void AsyncHandshake(std::function<void(const boost::system::error_code&)> done) = 0;
  virtual void AsyncReadSome(boost::asio::mutable_buffer buffer, Handler done) = 0;
  virtual void AsyncWrite(boost::asio::const_buffer buffer, Handler done) = 0;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual void ShutdownReceive() = 0;
  virtual void Close() = 0;
  // True for the end of the peer's data (EOF, or a TLS peer that closed without close_notify).
  static bool IsEndOfStream(const boost::system::error_code& ec);
};

std::unique_ptr<Stream> MakePlainStream(boost::asio::ip::tcp::socket socket);
// `context` is shared: a reload (SIGHUP) swaps in a new one for new connections while existing
// ones keep theirs.
std::unique_ptr<Stream> MakeTlsStream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context);

}  // namespace eventful::server
