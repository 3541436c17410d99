// aft::Error is the one exception type the library throws for bad input or failed I/O.
// Messages carry context (file, key, expected vs found); only main() catches and prints them.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace aft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  append(out, rest...);
}
}  // namespace detail

// Builds a message from its parts and throws aft::Error.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  detail::append(out, parts...);
  throw Error(out.str());
}

// Throws aft::Error with the message when the condition is false.
template <typename... Parts>
void check(bool condition, const Parts&... parts) {
  if (!condition) fail(parts...);
}

}  // namespace aft
