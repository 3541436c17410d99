// The contribution method's ratio search: one PSO dimension per ratio group, fitness = best
// validation accuracy of a short proxy run through the same Trainer (fresh pretrained model,
// same seed every time, test split removed), with pruning of hopeless particles.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "aft/methods/contribution.h"
#include "aft/train/trainer.h"

namespace aft::methods {

struct SearchOutcome {
  std::vector<double> group_ratios;  // gbest, one per layout group
  nlohmann::json report;             // budget, every evaluation, gbest per iteration
};

SearchOutcome search_ratios(std::shared_ptr<const ContributionBasis> basis, const ContributionOptions& options,
                            const SearchBudget& budget, PrepareContext& context);

// The proxy's data: train cut to a seeded stratified `fraction` per class, validation kept,
// the test split removed so that no fitness can ever read it.
train::TrainData proxy_data(const train::TrainData& data, double fraction, uint64_t seed);

// The proxy's recipe: the run's optimizer settings, `epochs` epochs, no schedule (the reference).
train::TrainOptions proxy_options(const train::TrainOptions& run, int64_t epochs);

}  // namespace aft::methods
