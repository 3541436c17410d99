// --method auto's plan and folds (aft/run/auto_race.h): the successive-halving rungs and their
// cost in full fine-tunes, and the stratified k folds the race validates on. Pure functions,
// apart from the race that uses them.
#include <algorithm>
#include <random>

#include "aft/data/random.h"
#include "aft/run/auto_race.h"

namespace aft::run {

RacePlan plan_race(int64_t candidates, int64_t epochs, int64_t folds, int64_t first_rung, double rate,
                   double searches) {
  RacePlan plan;
  plan.cost = searches;
  int64_t n = candidates;
  int64_t e = std::min(std::max<int64_t>(first_rung, 1), epochs);
  int64_t before = 0;
  while (true) {
    plan.rung_epochs.push_back(e);
    plan.entrants.push_back(n);
    plan.cost += rate * static_cast<double>(n * (e - before) * folds) / static_cast<double>(epochs);
    n = (n + 1) / 2;
    if (n == 1 || e == epochs) break;  // one left: the final training takes it on
    before = e;
    e = std::min(2 * e, epochs);
  }
  // The winner's final training: on to --epochs, or (folds) again on every training image.
  plan.cost += rate * (folds > 1 ? static_cast<double>(folds) / static_cast<double>(folds - 1)
                                 : static_cast<double>(epochs - plan.rung_epochs.back()) / static_cast<double>(epochs));
  return plan;
}

RacePlan fit_plan(int64_t candidates, int64_t epochs, int64_t folds, double budget, int64_t first_rung, double rate,
                  double searches) {
  if (first_rung > 0) return plan_race(candidates, epochs, folds, first_rung, rate, searches);
  for (int64_t e = epochs; e >= 1; --e) {
    auto plan = plan_race(candidates, epochs, folds, e, rate, searches);
    if (plan.cost <= budget) return plan;
  }
  return plan_race(candidates, epochs, folds, 1, rate, searches);
}

std::vector<std::pair<std::vector<size_t>, std::vector<size_t>>> k_folds(const data::Dataset& dataset,
                                                                          const std::vector<size_t>& pool, int64_t k,
                                                                          uint64_t seed) {
  std::vector<std::vector<size_t>> by_class(dataset.classes().size());
  for (size_t i : pool) by_class.at(static_cast<size_t>(dataset.label(i))).push_back(i);
  std::vector<std::pair<std::vector<size_t>, std::vector<size_t>>> folds(static_cast<size_t>(k));
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& members = by_class[c];
    std::sort(members.begin(), members.end());
    std::mt19937_64 rng(data::mix_seed(seed, 0xF01D5ull, c));
    data::shuffle(members, rng);
    // Image j of the class is validated in fold j mod k (offset by class, so that folds of
    // small classes do not all land in fold 0).
    for (size_t j = 0; j < members.size(); ++j) {
      const auto f = (j + c) % static_cast<size_t>(k);
      for (size_t g = 0; g < folds.size(); ++g) (g == f ? folds[g].second : folds[g].first).push_back(members[j]);
    }
  }
  for (auto& [train, val] : folds) {
    std::sort(train.begin(), train.end());
    std::sort(val.begin(), val.end());
  }
  return folds;
}

}  // namespace aft::run
