// Proxy runs: what every search (contribution ratios, multi-source frozen counts, partial's
// angle proxies) uses to score a candidate. A proxy is a short, quiet run of a Learner through
// the one Trainer on a cut of the training split, with the test split removed so that no
// fitness can ever read it; its fitness is the best validation accuracy.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "aft/search/pso.h"
#include "aft/train/learner.h"
#include "aft/train/trainer.h"

namespace aft::dist {
class Group;
}

namespace aft::search {

// The proxy's data: train cut to a seeded stratified `fraction` per class, validation kept,
// the test split removed.
train::TrainData proxy_data(const train::TrainData& data, double fraction, uint64_t seed);

// The proxy's recipe: the run's optimizer settings, `epochs` epochs, no schedule (the reference).
train::TrainOptions proxy_options(const train::TrainOptions& run, int64_t epochs);

// The reference swarm (c1 = c2 = 1.5, inertia 1.4 falling linearly to 0.7) at a budget's size;
// `order` is the --pso-order flag, resolved against the process group.
PsoOptions reference_pso_options(int64_t particles, int64_t iterations, double prune_margin, uint64_t seed,
                                 const std::string& order, const dist::Group* group);

// One fitness evaluation: the best validation accuracy of a quiet, test-free run of `learner`
// through the Trainer, reporting each epoch to the PSO (which may stop it early); without an
// epoch_done callback (a search that is not a PSO) every epoch runs.
double proxy_fitness(train::Learner& learner, const train::TrainOptions& recipe, const train::TrainData& data,
                     const EvalInfo& info = {});

// The progress line printed after each evaluation; `what` describes the position.
std::string evaluation_line(const PsoEvaluation& e, const PsoResult& r, int64_t total, const std::string& what);

// What every PSO search reports in method_report.search: budget, cost (evaluations and proxy
// epochs run, evaluations replayed from the journal, seconds) and the whole history. Each
// evaluation holds its position under `position_key`; `describe` may add fields to it.
nlohmann::json pso_search_report(const PsoResult& result, const PsoOptions& pso, int64_t proxy_epochs,
                                 double proxy_fraction, const train::TrainData& proxy, int processes,
                                 const std::string& position_key,
                                 const std::function<void(const PsoEvaluation&, nlohmann::json&)>& describe = {});

}  // namespace aft::search
