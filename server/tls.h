// TLS settings and the server's TLS context (Boost.Asio ssl::context over OpenSSL).
//
// TLS 1.2 or newer only. The certificate chain and key are PEM files; with a CA file, client
// certificates are requested and checked against it (mutual TLS): `required` rejects a client
// without one, `optional` accepts that but still rejects a certificate that does not verify
// (expired, another CA). Reloaded on SIGHUP: new connections get the new context, existing ones
// keep theirs.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/status.h"

namespace boost::asio::ssl {
class context;
}

namespace eventful::server {

struct TlsOptions {
  std::optional<int> port;    // set: serve TLS on it (0 = any free port)
  std::string cert_file;
  std::string key_file;
  std::string ca_file;        // optional: verify client certificates against it
  enum class ClientAuth { kNo, kOptional, kRequired } client_auth = ClientAuth::kNo;
  bool tls_only = false;      // no plain-text port
};

// Parses --tls-auth-clients: "yes"/"required", "no", "optional" (Redis' values). Empty = required
// (the flag given alone).
Status ParseClientAuth(std::string_view text, TlsOptions::ClientAuth* out);
// Checks the combination (cert and key given with a port, CA for client auth, …).
Status CheckTlsOptions(const TlsOptions& options);
Status MakeTlsContext(const TlsOptions& options, std::shared_ptr<boost::asio::ssl::context>* out);

}  // namespace eventful::server
