// The contribution method's ratio search: one PSO dimension per ratio group, fitness = best
// validation accuracy of a short proxy run through the same Trainer (fresh pretrained model,
// same seed every time, test split removed), with pruning of hopeless particles.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "aft/methods/contribution.h"
#include "aft/search/pso.h"
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

// Shared by the PSO searches (contribution ratios, multi-source frozen counts).
// The reference swarm (c1 = c2 = 1.5, inertia 1.4 falling linearly to 0.7) at a budget's size;
// `order` is the --pso-order flag, resolved against the process group.
search::PsoOptions reference_pso_options(int64_t particles, int64_t iterations, double prune_margin, uint64_t seed,
                                         const std::string& order, const dist::Group* group);
// One fitness evaluation: the best validation accuracy of a quiet, test-free run of `method`
// through the Trainer, reporting each epoch to the PSO (which may stop it early).
double proxy_fitness(Method& method, const train::TrainOptions& recipe, const train::TrainData& data,
                     const search::EvalInfo& info);
// The progress line printed after each evaluation; `what` describes the position.
std::string evaluation_line(const search::PsoEvaluation& e, const search::PsoResult& r, int64_t total,
                            const std::string& what);
// What both searches report in method_report.search: budget, cost (evaluations and proxy
// epochs run, seconds) and the whole history. Each evaluation holds its position under
// `position_key`; `describe` may add method-specific fields to it (frozen counts).
nlohmann::json pso_search_report(const search::PsoResult& result, const search::PsoOptions& pso, int64_t proxy_epochs,
                                 double proxy_fraction, const train::TrainData& proxy, const PrepareContext& context,
                                 const std::string& position_key,
                                 const std::function<void(const search::PsoEvaluation&, nlohmann::json&)>& describe = {});

}  // namespace aft::methods
