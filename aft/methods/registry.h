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
  // The method races other methods and trains the winner (auto: aft/run/auto_race.h) instead of
  // being a Method itself; run_job hands such a job to the race.
  bool races_methods = false;
  // What one run costs, in full fine-tunes of as many epochs: the forward is always paid, the
  // backward only as deep as the method trains (work.h), and two-copy networks pay twice.
  // auto's plan starts from it; the race then measures each candidate.
  double cost_guess = 1.0;
  // Architectures the method applies to, as name prefixes separated by '|'; empty: every one.
  std::string fits_arch;
};

const std::vector<MethodInfo>& registry();
// Throws listing the valid names when the method is unknown.
const MethodInfo& find_method(const std::string& name);

}  // namespace aft::methods
