#include "aft/search/parallel.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "aft/core/error.h"
#include "aft/dist/process_group.h"

namespace aft::search {

PsoOrder resolve_pso_order(const std::string& flag, const dist::Group* group) {
  check_choice("--pso-order", flag, {"auto", "sequential", "synchronous"});
  if (flag == "sequential") return PsoOrder::sequential;
  if (flag == "synchronous") return PsoOrder::synchronous;
  return group != nullptr && group->world() > 1 ? PsoOrder::synchronous : PsoOrder::sequential;
}

BatchFitnessFn spread_over_ranks(std::shared_ptr<dist::Group> group, FitnessFn fitness) {
  return [group = std::move(group), fitness = std::move(fitness)](const std::vector<std::vector<double>>& positions,
                                                                  const std::vector<EvalInfo>& infos) {
    const size_t n = positions.size();
    const int world = group ? group->world() : 1;
    const int rank = group ? group->rank() : 0;
    std::vector<double> values(n, 0.0);
    if (world == 1) {
      for (size_t k = 0; k < n; ++k) values[k] = fitness(positions[k], infos[k]);
      return values;
    }
    // This rank's evaluations record their curves through the PSO's own callback (which also
    // decides pruning) and keep a copy to send; the others' are replayed into it afterwards.
    std::vector<std::vector<std::pair<int64_t, double>>> curves(n);
    std::exception_ptr error;
    for (size_t k = static_cast<size_t>(rank); k < n && !error; k += static_cast<size_t>(world)) {
      EvalInfo mine = infos[k];
      mine.epoch_done = [&curves, &infos, k](int64_t epoch, double accuracy) {
        curves[k].emplace_back(epoch, accuracy);
        return infos[k].epoch_done(epoch, accuracy);
      };
      try {
        values[k] = fitness(positions[k], mine);
      } catch (...) {
        error = std::current_exception();
      }
    }
    // Round 1: fitness, curve lengths and failures. Each slot has one non-zero contributor,
    // so the sums are exact copies.
    std::vector<double> head(2 * n + static_cast<size_t>(world), 0.0);
    size_t longest = 0;
    for (size_t k = static_cast<size_t>(rank); k < n; k += static_cast<size_t>(world)) {
      head[k] = values[k];
      head[n + k] = static_cast<double>(curves[k].size());
    }
    head[2 * n + static_cast<size_t>(rank)] = error ? 1.0 : 0.0;
    head = group->sum(head);
    if (error) std::rethrow_exception(error);
    for (int r = 0; r < world; ++r) {
      check(head[2 * n + static_cast<size_t>(r)] == 0.0, "parallel search: an evaluation failed on rank ", r,
            " (its own error message says why)");
    }
    for (size_t k = 0; k < n; ++k) longest = std::max(longest, static_cast<size_t>(head[n + k]));
    // Round 2: the curves, as (epoch, accuracy) pairs padded to the longest.
    std::vector<double> body(n * longest * 2, 0.0);
    for (size_t k = static_cast<size_t>(rank); k < n; k += static_cast<size_t>(world)) {
      for (size_t e = 0; e < curves[k].size(); ++e) {
        body[(k * longest + e) * 2] = static_cast<double>(curves[k][e].first);
        body[(k * longest + e) * 2 + 1] = curves[k][e].second;
      }
    }
    if (!body.empty()) body = group->sum(body);
    for (size_t k = 0; k < n; ++k) {
      values[k] = head[k];
      if (k % static_cast<size_t>(world) == static_cast<size_t>(rank)) continue;
      const auto length = static_cast<size_t>(head[n + k]);
      for (size_t e = 0; e < length; ++e) {
        infos[k].epoch_done(static_cast<int64_t>(body[(k * longest + e) * 2]), body[(k * longest + e) * 2 + 1]);
      }
    }
    return values;
  };
}

}  // namespace aft::search
