// One declaration per option: an options struct lists its fields once in visit(), and the
// same visit drives the CLI flags (apps/aft/cli_options.h), their help text and defaults,
// and what lands in config.json (to_json / from_json below).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aft {

// A numeric option's valid values, [min, max], stated in its declaration: the CLI's help shows
// the range and check_ranges() refuses a value outside it, naming the flag and the range.
struct Range {
  double min;
  double max;
};

class OptionVisitor {
 public:
  virtual ~OptionVisitor() = default;
  virtual void field(const char* name, const char* help, int64_t& value) = 0;
  virtual void field(const char* name, const char* help, double& value) = 0;
  virtual void field(const char* name, const char* help, bool& value) = 0;
  virtual void field(const char* name, const char* help, std::string& value) = 0;
  // A flag that may be given several times (`--source A --source B`); a JSON array.
  virtual void field(const char* name, const char* help, std::vector<std::string>& values) = 0;
  // A numeric option with its range; a visitor that has no use for ranges sees a plain field.
  virtual void field(const char* name, const char* help, int64_t& value, Range range) {
    (void)range;
    field(name, help, value);
  }
  virtual void field(const char* name, const char* help, double& value, Range range) {
    (void)range;
    field(name, help, value);
  }
};

// Anything with `void visit(OptionVisitor&)` can be written to and read from JSON.
class Options {
 public:
  virtual ~Options() = default;
  virtual void visit(OptionVisitor& visitor) = 0;
  // Checks values (choices, ranges); throws aft::Error naming the flag.
  virtual void validate() const {}
};

nlohmann::json options_to_json(Options& options);
// Reads the keys present in `j` (others keep their current values); unknown keys are errors
// when `strict`, so a config from another version is not silently misread.
void options_from_json(Options& options, const nlohmann::json& j, bool strict, const std::string& source);
// Throws one line for the first numeric option outside its declared range (or not finite):
// "--threads 10000: must be in [0, 1024]".
void check_ranges(Options& options);
// "[0, 1024]", "[1, inf)": a range as help and errors write it.
std::string range_text(Range range);
// Throws unless value is one of the choices, listing the valid ones.
void check_choice(const std::string& flag, const std::string& value, std::initializer_list<const char*> choices);

}  // namespace aft
