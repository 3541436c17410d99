// The contribution method's ratio search: one PSO dimension per ratio group, fitness = best
// validation accuracy of a short proxy run (search/proxy.h: fresh pretrained model, same seed
// every time, test split removed), with pruning of hopeless particles.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "aft/methods/contribution.h"
#include "aft/search/pso.h"
#include "aft/search/proxy.h"

namespace aft::methods {

struct SearchOutcome {
  std::vector<double> group_ratios;  // gbest, one per layout group
  nlohmann::json report;             // budget, every evaluation, gbest per iteration
};

SearchOutcome search_ratios(std::shared_ptr<const ContributionBasis> basis, const ContributionOptions& options,
                            const SearchBudget& budget, PrepareContext& context);

}  // namespace aft::methods
