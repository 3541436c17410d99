#include "aft/search/proxy.h"

#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/data/splits.h"
#include "aft/search/parallel.h"

namespace aft::search {

train::TrainData proxy_data(const train::TrainData& data, double fraction, uint64_t seed) {
  train::TrainData out = data;
  out.splits.test = nullptr;
  out.splits.test_indices.clear();
  if (fraction < 1.0) {
    // stratified_split's "validation" side is what the proxy leaves out.
    out.splits.train_indices =
        data::stratified_split(*data.splits.train, data.splits.train_indices, 1.0 - fraction, 0, seed).first;
  }
  return out;
}

train::TrainOptions proxy_options(const train::TrainOptions& run, int64_t epochs) {
  train::TrainOptions o = run;
  o.epochs = epochs;
  o.schedule = "constant";
  o.warmup_epochs = 0;
  o.keep_best = false;  // fitness is the best validation accuracy; no weights are kept
  o.patience = 0;       // every proxy runs its epochs: fitness values stay comparable
  o.ema = 0;            // a short proxy's average would still sit near its start
  return o;
}

PsoOptions reference_pso_options(int64_t particles, int64_t iterations, double prune_margin, uint64_t seed,
                                 const std::string& order, const dist::Group* group) {
  auto o = PsoOptions::paper();
  o.particles = particles;
  o.iterations = iterations;
  o.inertia_drop = iterations > 0 ? 0.7 / static_cast<double>(iterations) : 0.0;
  o.prune_margin = prune_margin;
  o.seed = seed;
  o.order = resolve_pso_order(order, group);
  return o;
}

double proxy_fitness(train::Learner& learner, const train::TrainOptions& recipe, const train::TrainData& data,
                     const EvalInfo& info) {
  train::TrainerHooks hooks;
  hooks.label = "search";
  hooks.quiet = true;
  hooks.run_test = false;
  if (info.epoch_done) {
    hooks.after_epoch = [&](int64_t epoch, double val_accuracy) { return info.epoch_done(epoch, val_accuracy); };
  }
  train::Trainer trainer(learner, recipe, data, hooks);
  return trainer.fit().best_val_accuracy;
}

std::string evaluation_line(const PsoEvaluation& e, const PsoResult& r, int64_t total, const std::string& what) {
  std::ostringstream line;
  line << "search " << r.history.size() << "/" << total << " (iteration " << e.iteration << ", particle "
       << e.particle << "): val acc " << std::fixed << std::setprecision(4) << e.fitness << " after "
       << e.curve.size() << " epoch(s)" << (e.pruned ? " [pruned]" : "") << (e.replayed ? " [from the journal]" : "")
       << ", gbest " << r.gbest_fitness << " | "
       << what << " | " << log::format_seconds(e.seconds);
  return line.str();
}

nlohmann::json pso_search_report(const PsoResult& result, const PsoOptions& pso, int64_t proxy_epochs,
                                 double proxy_fraction, const train::TrainData& proxy, int processes,
                                 const std::string& position_key,
                                 const std::function<void(const PsoEvaluation&, nlohmann::json&)>& describe) {
  int64_t proxy_epochs_run = 0, replayed = 0;
  nlohmann::json evaluations = nlohmann::json::array();
  for (const auto& e : result.history) {
    replayed += e.replayed ? 1 : 0;
    nlohmann::json j = {{"iteration", e.iteration}, {"particle", e.particle},
                        {position_key, e.position}, {"fitness", e.fitness},
                        {"proxy_epochs", static_cast<int64_t>(e.curve.size())},
                        {"val_curve", e.curve},     {"pruned", e.pruned},
                        {"seconds", e.seconds}};
    if (describe) describe(e, j);
    evaluations.push_back(std::move(j));
    proxy_epochs_run += static_cast<int64_t>(e.curve.size());
  }
  return {{"particles", pso.particles},
          {"iterations", pso.iterations},
          {"proxy_epochs", proxy_epochs},
          {"proxy_fraction", proxy_fraction},
          {"proxy_train_images", proxy.splits.train_indices.size()},
          {"early_stop_margin", pso.prune_margin},
          {"pso_order", pso.order == PsoOrder::synchronous ? "synchronous" : "sequential"},
          {"processes", processes},
          {"evaluations_run", result.history.size()},
          {"evaluations_replayed", replayed},  // read back from the journal of an interrupted run
          {"proxy_epochs_run", proxy_epochs_run},
          {"seconds", result.seconds},
          {"gbest_fitness", result.gbest_fitness},
          {"gbest_per_iteration", result.gbest_per_iteration},
          {"evaluations", evaluations}};
}

}  // namespace aft::search
