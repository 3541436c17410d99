// Whole-string number parsing for flag values and environment variables. std::stoll alone
// accepts "12x" as 12; these accept only what a user would call an integer.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aft {

// The integer `text` spells in full ("12", "-3"; not "12x", "", " 3" or out of range), or
// nothing. Callers word their own error: each knows which flag and which range it wanted.
std::optional<int64_t> parse_integer(const std::string& text);
// A comma-separated list of such integers ("3,0,5"); nothing if any item is not one, or if
// an item is empty ("3,,5", "3,").
std::optional<std::vector<int64_t>> parse_integer_list(const std::string& text);

// The finite real number `text` spells in full ("0.25", "1e-3"; not "0.25x", "", "nan", "inf").
std::optional<double> parse_number(const std::string& text);

}  // namespace aft
