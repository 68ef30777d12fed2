#include "server/tls.h"

#include <boost/asio/ssl.hpp>

namespace eventful::server {
namespace ssl = boost::asio::ssl;

Status ParseClientAuth(std::string_view text, TlsOptions::ClientAuth* out) {
  if (text.empty() || text == "yes" || text == "required") {
    *out = TlsOptions::ClientAuth::kRequired;
  } else if (text == "no") {
    *out = TlsOptions::ClientAuth::kNo;
  } else if (text == "optional") {
    *out = TlsOptions::ClientAuth::kOptional;
  } else {
    return Status::Err("--tls-auth-clients must be yes, no or optional");
  }
  return Status::Ok();
}

Status CheckTlsOptions(const TlsOptions& o) {
  if (!o.port) {
    if (o.tls_only || !o.cert_file.empty() || !o.key_file.empty() || !o.ca_file.empty()) {
      return Status::Err("TLS options need --tls-port");
    }
    return Status::Ok();
  }
  if (o.cert_file.empty() || o.key_file.empty()) return Status::Err("--tls-port needs --tls-cert and --tls-key");
  if (o.client_auth != TlsOptions::ClientAuth::kNo && o.ca_file.empty()) {
    return Status::Err("--tls-auth-clients needs --tls-ca (the CA that signs client certificates)");
  }
  return Status::Ok();
}

Status MakeTlsContext(const TlsOptions& o, std::shared_ptr<ssl::context>* out) {
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    ctx->use_certificate_chain_file(o.cert_file);
    ctx->use_private_key_file(o.key_file, ssl::context::pem);
    if (!o.ca_file.empty()) ctx->load_verify_file(o.ca_file);
    switch (o.client_auth) {
      case TlsOptions::ClientAuth::kNo: ctx->set_verify_mode(ssl::verify_none); break;
      case TlsOptions::ClientAuth::kOptional: ctx->set_verify_mode(ssl::verify_peer); break;
      case TlsOptions::ClientAuth::kRequired:
        ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        break;
    }
    *out = std::move(ctx);
    return Status::Ok();
  } catch (const boost::system::system_error& e) {
    return Status::Err("TLS: cannot load the certificate, key or CA: " + std::string(e.what()));
  }
}

}  // namespace eventful::server
