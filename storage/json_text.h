// Writing JSON text: string escaping as RFC 8785 (JCS) requires, which is also valid JSON for
// every reply: only '"', '\\' and control characters are escaped (\b \t \n \f \r, others as
// \u00xx in lowercase hex); everything else, including non-ASCII UTF-8 and 0x7f, is copied.
#pragma once

#include <string>
#include <string_view>

namespace eventful::storage {

void AppendJsonString(std::string* out, std::string_view s);  // appends the quoted string
std::string JsonString(std::string_view s);

}  // namespace eventful::storage
