#include "aft/search/search_options.h"

#include <cmath>

#include "aft/core/error.h"

namespace aft::search {

void SearchOptions::visit(OptionVisitor& v) {
  v.field("particles", "PSO particles (0: the preset's)", particles);
  v.field("iterations", "PSO iterations after the initial swarm (-1: the preset's)", iterations);
  v.field("proxy-epochs", "epochs of each fitness run (0: the preset's)", proxy_epochs);
  v.field("proxy-fraction", "fraction of each training class a fitness run uses, in (0,1] (0: the preset's)",
          proxy_fraction);
  v.field("early-stop-margin",
          "stop a fitness run whose validation accuracy falls this far behind gbest's at the same epoch "
          "(<0: the preset's; >=1: never)",
          early_stop_margin);
  v.field("pso-order",
          "sequential (the reference: each particle sees the gbest of the one before) | synchronous (a whole "
          "iteration moves, then is evaluated: spread over processes) | auto (synchronous with several processes)",
          pso_order);
}

void SearchOptions::validate() const {
  check(particles >= 0, "--particles ", particles, ": expected >= 1 (0: the preset's)");
  check(iterations >= -1, "--iterations ", iterations, ": expected >= 0 (-1: the preset's)");
  check(proxy_epochs >= 0, "--proxy-epochs ", proxy_epochs, ": expected >= 1 (0: the preset's)");
  check(std::isfinite(proxy_fraction) && proxy_fraction >= 0 && proxy_fraction <= 1, "--proxy-fraction ",
        proxy_fraction, ": expected (0, 1] (0: the preset's)");
  check(std::isfinite(early_stop_margin), "--early-stop-margin ", early_stop_margin, ": must be a finite number");
  check_choice("--pso-order", pso_order, {"auto", "sequential", "synchronous"});
}

void apply_overrides(SearchBudget& b, const SearchOptions& o) {
  if (o.particles > 0) b.particles = o.particles;
  if (o.iterations >= 0) b.iterations = o.iterations;
  if (o.proxy_epochs > 0) b.proxy_epochs = o.proxy_epochs;
  if (o.proxy_fraction > 0) b.proxy_fraction = o.proxy_fraction;
  if (o.early_stop_margin >= 0) b.early_stop_margin = o.early_stop_margin >= 1 ? -1 : o.early_stop_margin;
}

}  // namespace aft::search
