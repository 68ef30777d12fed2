// config.toml: reading with toml++ (the only translation unit that includes it) and writing by
// hand, atomically. The file's shape:
//
//   [server]   bind = "127.0.0.1"   port = 9595   io_threads = 2   strict_schemas = false
//              (strict_schemas is also accepted as a top-level key)
//   [storage]  memory_threshold = 100000   relaxed_durability = false   store_dir = "db"
//   [limits]   max_bulk, max_args, max_events_per_add, max_event_bytes   (positive integers)
//   [secrets]  master_key_check = "pbkdf2-sha256$..."   dek_check = "pbkdf2-sha256$..."
//              treehead_public_key, treehead_private_key = "aes256gcm$...", token_key = "aes256gcm$..."
//
// Every section and key is optional (defaults from ServerConfig); an unknown section or key, or a
// value of the wrong type or out of range, is an ERR naming it.
#include "server/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include <toml++/toml.h>

namespace eventful::server {
namespace {

constexpr std::string_view kFileName = "config.toml";

std::string ConfigPath(const std::string& data_dir) { return data_dir + "/" + std::string(kFileName); }

std::string Where(std::string_view section, std::string_view key) {
  return "config.toml: [" + std::string(section) + "] " + std::string(key);
}

Status GetInteger(const toml::node& node, std::string_view section, std::string_view key,
                  int64_t min, int64_t max, int64_t* out) {
  const auto* v = node.as_integer();
  if (v == nullptr) return Status::Err(Where(section, key) + " must be an integer");
  int64_t x = v->get();
  if (x < min || x > max) {
    return Status::Err(Where(section, key) + " must be between " + std::to_string(min) + " and " +
                       std::to_string(max));
  }
  *out = x;
  return Status::Ok();
}

Status GetString(const toml::node& node, std::string_view section, std::string_view key,
                 std::string* out) {
  const auto* v = node.as_string();
  if (v == nullptr) return Status::Err(Where(section, key) + " must be a string");
  *out = v->get();
  return Status::Ok();
}

Status GetBool(const toml::node& node, std::string_view section, std::string_view key, bool* out) {
  const auto* v = node.as_boolean();
  if (v == nullptr) return Status::Err(Where(section, key) + " must be a boolean (true or false)");
  *out = v->get();
  return Status::Ok();
}

Status ApplyKey(std::string_view section, std::string_view key, const toml::node& node,
                ServerConfig* c) {
  constexpr int64_t kMaxU = INT64_MAX;
  int64_t n = 0;
  Status s;
  if (section == "server") {
    if (key == "bind") return GetString(node, section, key, &c->bind);
    if (key == "port") {
      if (s = GetInteger(node, section, key, 0, 65535, &n); s.ok()) c->port = static_cast<int>(n);
      return s;
    }
    if (key == "io_threads") {
      if (s = GetInteger(node, section, key, 1, 1024, &n); s.ok()) c->io_threads = static_cast<int>(n);
      return s;
    }
    if (key == "strict_schemas") return GetBool(node, section, key, &c->strict_schemas);
  } else if (section == "storage") {
    if (key == "memory_threshold") {
      if (s = GetInteger(node, section, key, 0, kMaxU, &n); s.ok()) c->memory_threshold = n;
      return s;
    }
    if (key == "relaxed_durability") return GetBool(node, section, key, &c->relaxed_durability);
    if (key == "store_dir") {
      if (s = GetString(node, section, key, &c->store_dir); !s.ok()) return s;
      // One directory name inside the data directory (written by `eventful config --rotate-dek`).
      if (c->store_dir.empty() || c->store_dir.find('/') != std::string::npos || c->store_dir[0] == '.') {
        return Status::Err("config.toml: [storage] store_dir must be a directory name inside the data directory");
      }
      return s;
    }
  } else if (section == "limits") {
    uint64_t* target = key == "max_bulk"             ? &c->max_bulk
                       : key == "max_args"           ? &c->max_args
                       : key == "max_events_per_add" ? &c->max_events_per_add
                       : key == "max_event_bytes"    ? &c->max_event_bytes
                                                     : nullptr;
    if (target != nullptr) {
      if (s = GetInteger(node, section, key, 1, kMaxU, &n); s.ok()) *target = static_cast<uint64_t>(n);
      return s;
    }
  } else if (section == "secrets") {
    if (key == "master_key_check") return GetString(node, section, key, &c->master_key_check);
    if (key == "dek_check") return GetString(node, section, key, &c->dek_check);
    if (key == "treehead_public_key") return GetString(node, section, key, &c->treehead_public_key);
    if (key == "treehead_private_key") return GetString(node, section, key, &c->treehead_private_key);
    if (key == "token_key") return GetString(node, section, key, &c->token_key);
  }
  return Status::Err("config.toml: unknown key '" + std::string(key) + "' in [" +
                     std::string(section) + "]");
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
  return out;
}

std::string Render(const ServerConfig& c) {
  std::ostringstream o;
  o << "# EventfulDB configuration, written by `eventful config`.\n"
       "# No secret is stored here: [secrets] holds salted PBKDF2 check values only.\n\n"
    << "[server]\n"
    << "bind = " << TomlString(c.bind) << "\n"
    << "port = " << c.port << "\n"
    << "io_threads = " << c.io_threads << "\n"
    << "strict_schemas = " << (c.strict_schemas ? "true" : "false") << "\n\n"
    << "[storage]\n"
    << "memory_threshold = " << c.memory_threshold << "\n"
    << "relaxed_durability = " << (c.relaxed_durability ? "true" : "false") << "\n"
    << "store_dir = " << TomlString(c.store_dir) << "\n\n"
    << "[limits]\n"
    << "max_bulk = " << c.max_bulk << "\n"
    << "max_args = " << c.max_args << "\n"
    << "max_events_per_add = " << c.max_events_per_add << "\n"
    << "max_event_bytes = " << c.max_event_bytes << "\n\n"
    << "[secrets]\n"
    << "master_key_check = " << TomlString(c.master_key_check) << "\n"
    << "dek_check = " << TomlString(c.dek_check) << "\n"
    << "# Ed25519 tree-head key: public key, and the private key sealed with the DEK (AES-256-GCM)\n"
    << "treehead_public_key = " << TomlString(c.treehead_public_key) << "\n"
    << "treehead_private_key = " << TomlString(c.treehead_private_key) << "\n"
    << "# Key of the keyed hashes of auth keys and access tokens, sealed with the DEK (AES-256-GCM)\n"
    << "token_key = " << TomlString(c.token_key) << "\n";
  return o.str();
}

Status Errno(const std::string& what) { return Status::Err(what + ": " + std::strerror(errno)); }

// Creates every missing directory of `dir`, the last one with mode 0700.
Status MakeDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p(dir);
  if (std::filesystem::is_directory(p, ec)) return Status::Ok();
  if (p.has_parent_path() && !p.parent_path().empty()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return Status::Err("cannot create " + p.parent_path().string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create " + dir);
  return Status::Ok();
}

}  // namespace

Status LoadConfig(const std::string& data_dir, ServerConfig* out) {
  *out = ServerConfig{};
  out->data_dir = data_dir;
  const std::string path = ConfigPath(data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::Err("no configuration in " + data_dir + ": run `eventful config` first");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::Err("config.toml: line " + std::to_string(e.source().begin.line) + ": " +
                       std::string(e.description()));
  }
  for (auto&& [section_key, section_node] : root) {
    std::string_view section = section_key.str();
    if (section == "strict_schemas") {  // PROTOCOL.md §8 names it without a section
      if (Status s = ApplyKey("server", section, section_node, out); !s.ok()) return s;
      continue;
    }
    if (section != "server" && section != "storage" && section != "limits" && section != "secrets") {
      return Status::Err("config.toml: unknown key '" + std::string(section) + "'");
    }
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return Status::Err("config.toml: '" + std::string(section) + "' must be a table ([" +
                         std::string(section) + "])");
    }
    for (auto&& [key, node] : *table) {
      if (Status s = ApplyKey(section, key.str(), node, out); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Status SaveConfig(const ServerConfig& config) {
  if (Status s = MakeDataDir(config.data_dir); !s.ok()) return s;
  const std::string path = ConfigPath(config.data_dir);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const std::string text = Render(config);

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot write " + tmp);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Errno("cannot write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  // O_CREAT's mode does not apply to a leftover file; make sure of 0600 before it becomes visible.
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    Status s = Errno("cannot write " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::close(fd) != 0) {
    Status s = Errno("cannot write " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("cannot replace " + path);
    ::unlink(tmp.c_str());
    return s;
  }
  // Make the rename itself durable.
  int dir_fd = ::open(config.data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    int rc = ::fsync(dir_fd);
    ::close(dir_fd);
    if (rc != 0) return Errno("cannot sync " + config.data_dir);
  }
  return Status::Ok();
}

}  // namespace eventful::server
