// The flags every PSO search shares (contribution ratios, multi-source frozen counts), declared
// once, and the budget they override. A method's own preset names the budget's starting values.
#pragma once
#include <cstdint>
#include <string>

#include "aft/core/options.h"

namespace aft::search {

// Explicit overrides of a preset; the "unset" values defer to it.
struct SearchOptions : Options {
  int64_t particles = 0;           // 0: the preset's
  int64_t iterations = -1;         // -1: the preset's
  int64_t proxy_epochs = 0;        // 0: the preset's
  double proxy_fraction = 0;       // 0: the preset's
  double early_stop_margin = -1;   // <0: the preset's; >= 1 never prunes
  std::string pso_order = "auto";  // auto|sequential|synchronous (search/parallel.h)

  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// What a search spends: particles x (iterations + 1) proxy runs of at most proxy_epochs epochs
// on proxy_fraction of each training class.
struct SearchBudget {
  int64_t particles = 10;
  int64_t iterations = 15;
  int64_t proxy_epochs = 5;
  double proxy_fraction = 1.0;
  double early_stop_margin = -1;  // <0: off
  int64_t evaluations() const { return particles * (iterations + 1); }
};

// The preset's budget with the explicit overrides applied.
void apply_overrides(SearchBudget& budget, const SearchOptions& options);

}  // namespace aft::search
