#include "aft/core/parse.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace aft {

std::optional<int64_t> parse_integer(const std::string& text) {
  // strtoll skips leading blanks and a '+'; in a flag value either is a typo, not a number.
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text.front())) || text.front() == '-')) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE || end != text.c_str() + text.size()) return std::nullopt;
  return static_cast<int64_t>(value);
}

std::optional<std::vector<int64_t>> parse_integer_list(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const auto value = parse_integer(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!value) return std::nullopt;
    out.push_back(*value);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace aft
