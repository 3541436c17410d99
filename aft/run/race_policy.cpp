// --method auto's policy (race_policy.h): the plan, the folds, the cut, the budget's check and
// the decision.
#include "aft/run/race_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "aft/data/dataset.h"
#include "aft/data/random.h"

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

bool Standing::scored(size_t f) const {
  return folds.size() <= 1 || chosen_on < 0 || f != static_cast<size_t>(chosen_on);
}

namespace {

std::vector<double> scored_folds(const Standing& s) {
  std::vector<double> out;
  for (size_t f = 0; f < s.folds.size(); ++f) {
    if (s.scored(f)) out.push_back(s.folds[f]);
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Of the per-fold differences a - b on the folds both score.
std::vector<double> shared_differences(const Standing& a, const Standing& b) {
  std::vector<double> d;
  const size_t n = std::min(a.folds.size(), b.folds.size());
  for (size_t f = 0; f < n; ++f) {
    if (a.scored(f) && b.scored(f)) d.push_back(a.folds[f] - b.folds[f]);
  }
  return d;
}

}  // namespace

double Standing::fitness() const {
  const auto v = scored_folds(*this);
  return v.empty() ? -1 : mean_of(v);
}

double Standing::spread() const {
  const auto v = scored_folds(*this);
  const double mean = fitness();
  if (v.size() > 1) {
    double var = 0;
    for (double a : v) var += (a - mean) * (a - mean);
    return std::sqrt(var / static_cast<double>(v.size() - 1));
  }
  return std::sqrt(std::max(mean * (1 - mean), 1e-4) / std::max<double>(1.0, static_cast<double>(val_images)));
}

PairedGap paired_gap(const Standing& a, const Standing& b) {
  const auto d = shared_differences(a, b);
  PairedGap gap;
  if (d.empty()) return gap;
  gap.mean = mean_of(d);
  if (d.size() > 1) {
    double var = 0;
    for (double x : d) var += (x - gap.mean) * (x - gap.mean);
    gap.se = std::sqrt(var / static_cast<double>(d.size() - 1) / static_cast<double>(d.size()));
  }
  return gap;
}

std::vector<size_t> ranked(const std::vector<Standing>& all, std::vector<size_t> in) {
  std::stable_sort(in.begin(), in.end(), [&](size_t a, size_t b) {
    const double fa = all[a].fitness(), fb = all[b].fitness();
    if (fa != fb) return fa > fb;
    if (all[a].trainable != all[b].trainable) return all[a].trainable < all[b].trainable;
    return a < b;
  });
  return in;
}

std::vector<size_t> cut(const std::vector<Standing>& all, const std::vector<size_t>& in, int64_t hedge) {
  auto order = ranked(all, in);
  const size_t half = (order.size() + 1) / 2;
  const bool hedged = hedge >= 0 && std::find(in.begin(), in.end(), static_cast<size_t>(hedge)) != in.end();
  const auto h = static_cast<size_t>(hedge);
  std::vector<size_t> out(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
  if (hedged && std::find(out.begin(), out.end(), h) == out.end()) {
    if (out.size() == 1) {
      out.push_back(h);  // the leader and the hedge
    } else {
      out.back() = h;
    }
  }
  return out;
}

NextCost next_cost(const std::vector<Standing>& all, const std::vector<size_t>& in, int64_t done, int64_t next,
                   int64_t epochs, int64_t folds) {
  NextCost cost;
  double rate_max = 0;
  for (size_t i : in) {
    cost.rung += all[i].rate * static_cast<double>((next - done) * folds) / static_cast<double>(epochs);
    rate_max = std::max(rate_max, all[i].rate);
  }
  cost.final = rate_max * (folds > 1 ? static_cast<double>(folds) / static_cast<double>(folds - 1)
                                     : static_cast<double>(epochs - next) / static_cast<double>(epochs));
  return cost;
}

bool fits(double spent, const NextCost& cost, double budget) { return spent + cost.rung + cost.final <= budget; }

size_t decide(const std::vector<Standing>& all, const std::vector<size_t>& in) {
  const auto order = ranked(all, in);
  const size_t leader = order.front();
  size_t winner = leader;
  for (size_t i : order) {
    if (i == leader || all[i].trainable >= all[winner].trainable) continue;
    const bool folded = shared_differences(all[leader], all[i]).size() > 1;
    const auto gap = paired_gap(all[leader], all[i]);
    const double allowed = folded ? gap.se : all[leader].spread();
    if (gap.mean <= allowed) winner = i;
  }
  return winner;
}

}  // namespace aft::run
