// The list of methods aft knows: name, one-line description, an options struct (which
// drives the `--method NAME --help` flags and config.json) and a factory.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aft/core/options.h"
#include "aft/methods/method.h"

namespace aft::methods {

struct MethodInfo {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<Options>()> make_options;
  std::function<MethodPtr(const Options&)> create;
  // Shrinks the method's options to the small budget `aft demo` runs it with (may be empty).
  std::function<void(Options&)> demo_budget;
  // Methods that take several pretrained sources instead of --weights (may be empty).
  std::function<void(Options&, const std::vector<std::string>& sources)> set_sources;
};

const std::vector<MethodInfo>& registry();
// Throws listing the valid names when the method is unknown.
const MethodInfo& find_method(const std::string& name);

}  // namespace aft::methods
