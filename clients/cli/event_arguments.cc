#include "clients/cli/event_arguments.h"

#include <set>

#include "clients/cli/replies.h"
#include "storage/json_text.h"

namespace eventful::cli {

bool ParseEventArguments(std::string_view command, const std::vector<std::string>& extras, EventArguments* out) {
  const std::string name_of_command(command);
  std::set<std::string> seen;
  bool have_type = false;
  for (size_t i = 0; i < extras.size(); ++i) {
    const std::string& a = extras[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2);
      std::string value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      } else if (i + 1 < extras.size() && extras[i + 1].compare(0, 2, "--") != 0) {
        value = extras[++i];
      } else {
        Fail("field --" + name + " needs a value (--" + name + "=VALUE)");
        return false;
      }
      if (name.empty()) {
        Fail("a field needs a name (--NAME=VALUE), got '" + a + "'");
        return false;
      }
      if (!seen.insert(name).second) {
        Fail("field '" + name + "' given twice");
        return false;
      }
      out->fields.emplace_back(name, value);
    } else if (a.size() > 1 && a[0] == '-') {
      Fail("unknown option '" + a + "' (data fields are written --NAME=VALUE)");
      return false;
    } else if (have_type) {
      Fail("unexpected argument '" + a + "': " + name_of_command + " takes one event type");
      return false;
    } else {
      out->type = a;
      have_type = true;
    }
  }
  if (!have_type || out->type.empty()) {
    Fail(name_of_command + " needs the event type: eventful " + name_of_command +
         " TYPE --stream=STREAM [--FIELD=VALUE ...]");
    return false;
  }
  return true;
}

std::string DataJson(const EventArguments& event) {
  std::string out = "{";
  for (size_t i = 0; i < event.fields.size(); ++i) {
    if (i > 0) out += ',';
    storage::AppendJsonString(&out, event.fields[i].first);
    out += ':';
    storage::AppendJsonString(&out, event.fields[i].second);
  }
  return out + "}";
}

}  // namespace eventful::cli
