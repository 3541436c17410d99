#include "aft/methods/contribution_search.h"

#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/data/splits.h"
#include "aft/dist/process_group.h"
#include "aft/search/parallel.h"
#include "aft/search/proxy.h"
#include "aft/search/pso.h"

namespace aft::methods {

namespace {

std::string short_ratios(const std::vector<double>& x) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2);
  for (size_t i = 0; i < x.size() && i < 8; ++i) out << (i ? " " : "") << x[i];
  if (x.size() > 8) out << " ...";
  return out.str();
}

}  // namespace

SearchOutcome search_ratios(std::shared_ptr<const ContributionBasis> basis, const ContributionOptions& options,
                            const SearchBudget& budget, PrepareContext& context) {
  check(context.data != nullptr && context.train_options != nullptr, "contribution search: no task data");
  check(!context.data->splits.val_indices.empty(),
        "contribution search: the fitness needs a validation split (--val-fraction > 0)");
  const auto& run = *context.train_options;
  const auto data = search::proxy_data(*context.data, budget.proxy_fraction, static_cast<uint64_t>(run.seed));
  const auto recipe = search::proxy_options(run, budget.proxy_epochs);

  std::vector<search::PsoDimension> dims;
  for (const auto& g : basis->layout.groups) dims.push_back({g, 0.0, 1.0, 0.2});
  auto pso_options = search::reference_pso_options(budget.particles, budget.iterations, budget.early_stop_margin,
                                                 static_cast<uint64_t>(run.seed), options.pso_order, context.dist.get());
  pso_options.journal = context.journal("contribution");
  pso_options.journal_writer = context.search_writer;

  ContributionOptions proxy_method_options = options;
  const int64_t total = budget.particles * (budget.iterations + 1);
  auto fitness = [&](const std::vector<double>& position, const search::EvalInfo& info) {
    ContributionMethod method(proxy_method_options);
    method.use_ratios(basis, basis->layout.unit_ratios(position));
    // fresh_model reseeds, so every particle gets the same head and the same data order.
    method.attach(context.fresh_model());
    return search::proxy_fitness(method, recipe, data, info);
  };
  search::Pso pso(dims, pso_options);
  pso.on_evaluation = [&](const search::PsoEvaluation& e, const search::PsoResult& r) {
    if (!context.quiet) log::info(search::evaluation_line(e, r, total, short_ratios(e.position)));
  };
  // Each rank trains its share of an iteration's particles alone (no data parallelism inside a
  // fitness run); with one process this is the plain loop.
  const auto result = pso.run_batched(search::spread_over_ranks(context.dist, fitness));

  SearchOutcome out;
  out.group_ratios = result.gbest_position;
  out.report = search::pso_search_report(result, pso_options, budget.proxy_epochs, budget.proxy_fraction, data,
                                         context.dist ? context.dist->world() : 1, "ratios");
  out.report["preset"] = options.search_preset;
  out.report["ratio_groups"] = budget.ratio_groups;
  out.report["dimensions"] = basis->layout.groups;
  out.report["gbest_ratios"] = result.gbest_position;
  return out;
}

}  // namespace aft::methods
