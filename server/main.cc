// eventfuld: the EventfulDB server in the foreground (what `eventful start --foreground` runs).
// Its few flags are parsed by hand so the server binary does not carry a CLI library.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <eventful/version.h>

#include "server/launch.h"

namespace {

constexpr const char* kUsage =
    "Usage: eventfuld [options]\n"
    "Runs the EventfulDB server in the foreground until SIGTERM or SIGINT.\n"
    "\n"
    "Options:\n"
    "  --data-dir DIR           data directory with config.toml (default ./.eventful)\n"
    "  --port N                 TCP port, 0 = any free port (default: EVENTFUL_PORT, then config)\n"
    "  --bind ADDR              address to listen on (default: config, 127.0.0.1)\n"
    "  --io-threads N           I/O threads (default: config, 2)\n"
    "  --dek KEY                data encryption key (visible to other users in `ps`; prefer\n"
    "                           --dek-file or EVENTFUL_DEK)\n"
    "  --dek-file PATH          read the data encryption key from a file\n"
    "  --relaxed-durability     reply to ADD before the write-ahead log is synced\n"
    "  --strict-schemas         reject ADD to a category without a schema (INVALID)\n"
    "  --memory-threshold N     events kept in the recent-event cache\n"
    "  --tls-port N             also serve TLS (1.2+) on this port, 0 = any free port\n"
    "  --tls-cert FILE          PEM certificate chain for TLS\n"
    "  --tls-key FILE           PEM private key for TLS\n"
    "  --tls-ca FILE            PEM CA certificates that client certificates must chain to\n"
    "  --tls-auth-clients [yes|no|optional]  mutual TLS (alone: yes)\n"
    "  --tls-only               no plain-text port: TLS only\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Environment: EVENTFUL_DEK, EVENTFUL_PORT.\n";

bool ParseInt(std::string_view text, long long min, long long max, long long* out) {
  if (text.empty()) return false;
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

int Usage(const std::string& error) {
  std::fprintf(stderr, "error: %s\nRun 'eventfuld --help' for the options.\n", error.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  eventful::server::LaunchOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "-V" || arg == "--version") {
      std::printf("%s\n", eventful::kVersion);
      return 0;
    }
    if (arg == "--relaxed-durability") {
      options.relaxed_durability = true;
      continue;
    }
    if (arg == "--strict-schemas") {
      options.strict_schemas = true;
      continue;
    }
    if (arg == "--tls-only") {
      options.tls.tls_only = true;
      continue;
    }
    if (arg == "--tls-auth-clients" || arg.starts_with("--tls-auth-clients=")) {
      std::string_view value;
      if (arg.size() > 18) {
        value = arg.substr(19);
      } else if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--") {
        value = argv[++i];
      }
      if (auto s = eventful::server::ParseClientAuth(value, &options.tls.client_auth); !s.ok()) return Usage(s.message());
      continue;
    }
    if (arg.substr(0, 2) != "--") return Usage("unexpected argument '" + std::string(arg) + "'");

    std::string name(arg);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const bool known = name == "--data-dir" || name == "--port" || name == "--bind" ||
                       name == "--io-threads" || name == "--dek" || name == "--dek-file" ||
                       name == "--memory-threshold" || name == "--tls-port" || name == "--tls-cert" ||
                       name == "--tls-key" || name == "--tls-ca";
    if (!known) return Usage("unknown option '" + name + "'");
    if (!has_value) {
      if (i + 1 >= argc) return Usage(name + " needs a value");
      value = argv[++i];
    }

    long long n = 0;
    if (name == "--data-dir") {
      if (value.empty()) return Usage("--data-dir needs a value");
      options.data_dir = value;
    } else if (name == "--port") {
      if (!ParseInt(value, 0, 65535, &n)) return Usage("--port must be a number between 0 and 65535");
      options.port = static_cast<int>(n);
    } else if (name == "--bind") {
      options.bind = value;
    } else if (name == "--io-threads") {
      if (!ParseInt(value, 1, 1024, &n)) return Usage("--io-threads must be a number between 1 and 1024");
      options.io_threads = static_cast<int>(n);
    } else if (name == "--dek") {
      options.dek = value;
    } else if (name == "--dek-file") {
      options.dek_file = value;
    } else if (name == "--tls-port") {
      if (!ParseInt(value, 0, 65535, &n)) return Usage("--tls-port must be a number between 0 and 65535");
      options.tls.port = static_cast<int>(n);
    } else if (name == "--tls-cert") {
      options.tls.cert_file = value;
    } else if (name == "--tls-key") {
      options.tls.key_file = value;
    } else if (name == "--tls-ca") {
      options.tls.ca_file = value;
    } else if (name == "--memory-threshold") {
      if (!ParseInt(value, 0, INT64_MAX, &n)) return Usage("--memory-threshold must be a non-negative number");
      options.memory_threshold = static_cast<uint64_t>(n);
    }
  }
  return eventful::server::LaunchServer(options);
}
