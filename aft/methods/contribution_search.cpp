#include "aft/methods/contribution_search.h"

#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/data/splits.h"
#include "aft/dist/process_group.h"
#include "aft/search/parallel.h"
#include "aft/search/pso.h"

namespace aft::methods {

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
  return o;
}

search::PsoOptions reference_pso_options(int64_t particles, int64_t iterations, double prune_margin, uint64_t seed,
                                         const std::string& order, const dist::Group* group) {
  auto o = search::PsoOptions::paper();
  o.particles = particles;
  o.iterations = iterations;
  o.inertia_drop = iterations > 0 ? 0.7 / static_cast<double>(iterations) : 0.0;
  o.prune_margin = prune_margin;
  o.seed = seed;
  o.order = search::resolve_pso_order(order, group);
  return o;
}

double proxy_fitness(Method& method, const train::TrainOptions& recipe, const train::TrainData& data,
                     const search::EvalInfo& info) {
  train::TrainerHooks hooks;
  hooks.label = "search";
  hooks.quiet = true;
  hooks.run_test = false;
  hooks.after_epoch = [&](int64_t epoch, double val_accuracy) { return info.epoch_done(epoch, val_accuracy); };
  train::Trainer trainer(method, recipe, data, hooks);
  return trainer.fit().best_val_accuracy;
}

std::string evaluation_line(const search::PsoEvaluation& e, const search::PsoResult& r, int64_t total,
                            const std::string& what) {
  std::ostringstream line;
  line << "search " << r.history.size() << "/" << total << " (iteration " << e.iteration << ", particle "
       << e.particle << "): val acc " << std::fixed << std::setprecision(4) << e.fitness << " after "
       << e.curve.size() << " epoch(s)" << (e.pruned ? " [pruned]" : "") << ", gbest " << r.gbest_fitness << " | "
       << what << " | " << log::format_seconds(e.seconds);
  return line.str();
}

namespace {

std::string short_ratios(const std::vector<double>& x) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2);
  for (size_t i = 0; i < x.size() && i < 8; ++i) out << (i ? " " : "") << x[i];
  if (x.size() > 8) out << " ...";
  return out.str();
}

}  // namespace

nlohmann::json pso_search_report(const search::PsoResult& result, const search::PsoOptions& pso, int64_t proxy_epochs,
                                 double proxy_fraction, const train::TrainData& proxy, const PrepareContext& context,
                                 const std::string& position_key,
                                 const std::function<void(const search::PsoEvaluation&, nlohmann::json&)>& describe) {
  int64_t proxy_epochs_run = 0;
  nlohmann::json evaluations = nlohmann::json::array();
  for (const auto& e : result.history) {
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
          {"pso_order", pso.order == search::PsoOrder::synchronous ? "synchronous" : "sequential"},
          {"processes", context.dist ? context.dist->world() : 1},
          {"evaluations_run", result.history.size()},
          {"proxy_epochs_run", proxy_epochs_run},
          {"seconds", result.seconds},
          {"gbest_fitness", result.gbest_fitness},
          {"gbest_per_iteration", result.gbest_per_iteration},
          {"evaluations", evaluations}};
}

SearchOutcome search_ratios(std::shared_ptr<const ContributionBasis> basis, const ContributionOptions& options,
                            const SearchBudget& budget, PrepareContext& context) {
  check(context.data != nullptr && context.train_options != nullptr, "contribution search: no task data");
  check(!context.data->splits.val_indices.empty(),
        "contribution search: the fitness needs a validation split (--val-fraction > 0)");
  const auto& run = *context.train_options;
  const auto data = proxy_data(*context.data, budget.proxy_fraction, static_cast<uint64_t>(run.seed));
  const auto recipe = proxy_options(run, budget.proxy_epochs);

  std::vector<search::PsoDimension> dims;
  for (const auto& g : basis->layout.groups) dims.push_back({g, 0.0, 1.0, 0.2});
  const auto pso_options = reference_pso_options(budget.particles, budget.iterations, budget.early_stop_margin,
                                                 static_cast<uint64_t>(run.seed), options.pso_order, context.dist.get());

  ContributionOptions proxy_method_options = options;
  const int64_t total = budget.particles * (budget.iterations + 1);
  auto fitness = [&](const std::vector<double>& position, const search::EvalInfo& info) {
    ContributionMethod method(proxy_method_options);
    method.use_ratios(basis, basis->layout.unit_ratios(position));
    // fresh_model reseeds, so every particle gets the same head and the same data order.
    method.attach(context.fresh_model());
    return proxy_fitness(method, recipe, data, info);
  };
  search::Pso pso(dims, pso_options);
  pso.on_evaluation = [&](const search::PsoEvaluation& e, const search::PsoResult& r) {
    if (!context.quiet) log::info(evaluation_line(e, r, total, short_ratios(e.position)));
  };
  // Each rank trains its share of an iteration's particles alone (no data parallelism inside a
  // fitness run); with one process this is the plain loop.
  const auto result = pso.run_batched(search::spread_over_ranks(context.dist, fitness));

  SearchOutcome out;
  out.group_ratios = result.gbest_position;
  out.report = pso_search_report(result, pso_options, budget.proxy_epochs, budget.proxy_fraction, data, context, "ratios");
  out.report["preset"] = options.search_preset;
  out.report["ratio_groups"] = budget.ratio_groups;
  out.report["dimensions"] = basis->layout.groups;
  out.report["gbest_ratios"] = result.gbest_position;
  return out;
}

}  // namespace aft::methods
