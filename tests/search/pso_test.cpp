#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "aft/search/pso.h"

namespace {

using aft::search::EvalInfo;
using aft::search::Pso;
using aft::search::PsoDimension;
using aft::search::PsoOptions;
using aft::search::PsoOrder;

double toy_fitness(const std::vector<double>& x) {
  double s = 10.0;
  for (size_t j = 0; j < x.size(); ++j) s -= (x[j] - 0.3 - 0.1 * j) * (x[j] - 0.3 - 0.1 * j);
  return s;
}

PsoOptions small_options(int64_t particles, int64_t iterations, uint64_t seed) {
  auto o = PsoOptions::paper();
  o.particles = particles;
  o.iterations = iterations;
  o.inertia_drop = 0.7 / static_cast<double>(iterations);
  o.seed = seed;
  return o;
}

TEST(Pso, PaperPresetMatchesTheReference) {
  const auto o = PsoOptions::paper();
  EXPECT_EQ(o.particles, 10);
  EXPECT_EQ(o.iterations, 15);
  EXPECT_EQ(o.c1, 1.5);
  EXPECT_EQ(o.c2, 1.5);
  EXPECT_EQ(o.inertia, 1.4);
  EXPECT_DOUBLE_EQ(o.inertia_drop, 0.7 / 15);
  EXPECT_EQ(o.initial_gbest_fitness, 1e-7);
  EXPECT_EQ(o.order, PsoOrder::sequential);
  int64_t calls = 0;
  Pso pso({{"a"}, {"b"}}, o);
  const auto r = pso.run([&](const std::vector<double>& x, const EvalInfo&) { return ++calls, toy_fitness(x); });
  EXPECT_EQ(calls, 160);
  EXPECT_EQ(r.history.size(), 160u);
  EXPECT_EQ(r.gbest_per_iteration.size(), 16u);
}

TEST(Pso, SameSeedSameHistory) {
  auto run = [](uint64_t seed) {
    Pso pso({{"a"}, {"b"}, {"c"}}, small_options(4, 3, seed));
    return pso.run([](const std::vector<double>& x, const EvalInfo&) { return toy_fitness(x); });
  };
  const auto a = run(7), b = run(7), c = run(8);
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    EXPECT_EQ(a.history[i].position, b.history[i].position);
    EXPECT_EQ(a.history[i].fitness, b.history[i].fitness);
  }
  EXPECT_EQ(a.gbest_per_iteration, b.gbest_per_iteration);
  EXPECT_NE(a.history[0].position, c.history[0].position);
}

// The reference's update written out directly (Python's PSO class, with our seeded draws).
TEST(Pso, FollowsTheReferenceUpdateRuleForTwoIterations) {
  const std::vector<PsoDimension> dims = {{"a", 0, 1, 0.2}, {"b", 0, 1, 0.2}, {"c", -1, 2, 0.5}};
  const auto options = small_options(4, 2, 42);
  Pso pso(dims, options);
  const auto result = pso.run([](const std::vector<double>& x, const EvalInfo&) { return toy_fitness(x); });

  std::mt19937_64 rng(42);
  const size_t n = 4, d = dims.size();
  std::vector<std::vector<double>> x(n, std::vector<double>(d)), v = x, pbest = x;
  std::vector<double> pfit(n), gbest(d, 0.0);
  double gfit = 1e-7;
  std::vector<std::vector<double>> expected_positions;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) {
      x[i][j] = dims[j].lo + (dims[j].hi - dims[j].lo) * aft::search::unit_uniform(rng);
      v[i][j] = -dims[j].vclip + 2 * dims[j].vclip * aft::search::unit_uniform(rng);
    }
    pbest[i] = x[i];
    pfit[i] = toy_fitness(x[i]);
    expected_positions.push_back(x[i]);
    if (pfit[i] > gfit) gbest = pbest[i], gfit = pfit[i];
  }
  std::vector<double> expected_gbest = {gfit};
  double w = 1.4;
  for (int it = 0; it < 2; ++it) {
    for (size_t i = 0; i < n; ++i) {
      const double r1 = aft::search::unit_uniform(rng);
      const double r2 = aft::search::unit_uniform(rng);
      for (size_t j = 0; j < d; ++j) {
        v[i][j] = w * v[i][j] + 1.5 * r1 * (pbest[i][j] - x[i][j]) + 1.5 * r2 * (gbest[j] - x[i][j]);
        v[i][j] = std::min(std::max(v[i][j], -dims[j].vclip), dims[j].vclip);
        x[i][j] = std::min(std::max(x[i][j] + v[i][j], dims[j].lo), dims[j].hi);
      }
      const double f = toy_fitness(x[i]);
      expected_positions.push_back(x[i]);
      if (f > pfit[i]) pbest[i] = x[i], pfit[i] = f;
      if (f > gfit) gbest = x[i], gfit = f;
    }
    w -= 0.7 / 2;
    expected_gbest.push_back(gfit);
  }
  ASSERT_EQ(result.history.size(), expected_positions.size());
  for (size_t k = 0; k < expected_positions.size(); ++k) {
    EXPECT_EQ(result.history[k].position, expected_positions[k]) << "evaluation " << k;
    EXPECT_EQ(result.history[k].iteration, static_cast<int64_t>(k / n));
    EXPECT_EQ(result.history[k].particle, static_cast<int64_t>(k % n));
  }
  EXPECT_EQ(result.gbest_per_iteration, expected_gbest);
  EXPECT_EQ(result.gbest_position, gbest);
  EXPECT_EQ(result.gbest_fitness, gfit);
}

TEST(Pso, RespectsBoundsAndVelocityClips) {
  const std::vector<PsoDimension> dims = {{"a", -2, 3, 0.5}, {"b", 0, 1, 0.05}};
  Pso pso(dims, small_options(5, 6, 3));
  // A fitness that pulls hard towards a corner outside the box drives particles into the clips.
  const auto r = pso.run([](const std::vector<double>& x, const EvalInfo&) { return 100 + 10 * x[0] - 10 * x[1]; });
  std::map<int64_t, std::vector<double>> last;
  bool hit_bound = false;
  for (const auto& e : r.history) {
    for (size_t j = 0; j < dims.size(); ++j) {
      EXPECT_GE(e.position[j], dims[j].lo);
      EXPECT_LE(e.position[j], dims[j].hi);
      if (last.count(e.particle)) EXPECT_LE(std::abs(e.position[j] - last[e.particle][j]), dims[j].vclip + 1e-12);
      hit_bound |= e.position[j] == dims[j].hi || e.position[j] == dims[j].lo;
    }
    last[e.particle] = e.position;
  }
  EXPECT_TRUE(hit_bound);
}

TEST(Pso, FindsTheOptimumOfASphere) {
  Pso pso({{"a"}, {"b"}, {"c"}}, small_options(10, 30, 1));
  const std::vector<double> target = {0.7, 0.2, 0.5};
  const auto r = pso.run([&](const std::vector<double>& x, const EvalInfo&) {
    double s = 1.0;
    for (size_t j = 0; j < 3; ++j) s -= (x[j] - target[j]) * (x[j] - target[j]);
    return s;
  });
  for (size_t j = 0; j < 3; ++j) EXPECT_NEAR(r.gbest_position[j], target[j], 0.05);
  EXPECT_TRUE(std::is_sorted(r.gbest_per_iteration.begin(), r.gbest_per_iteration.end()));
}

TEST(Pso, PrunesEvaluationsBehindTheGbestCurve) {
  auto o = small_options(4, 3, 5);
  o.prune_margin = 0.1;
  Pso pso({{"a"}}, o);
  // Each "proxy run" has a flat curve at its position's value over 3 epochs.
  const auto r = pso.run([](const std::vector<double>& x, const EvalInfo& info) {
    int64_t epoch = 0;
    while (epoch < 3 && info.epoch_done(epoch, x[0])) ++epoch;
    return x[0];
  });
  double gbest = 1e-7;
  int64_t pruned = 0;
  for (size_t k = 0; k < r.history.size(); ++k) {
    const auto& e = r.history[k];
    const bool behind = k > 0 && e.position[0] < gbest - 0.1;
    EXPECT_EQ(e.pruned, behind) << k;
    EXPECT_EQ(e.curve.size(), behind ? 1u : 3u) << k;
    pruned += e.pruned;
    gbest = std::max(gbest, e.fitness);
  }
  EXPECT_GT(pruned, 0);
}

TEST(Pso, SynchronousOrderEvaluatesWholeIterationsAsBatches) {
  auto o = small_options(4, 2, 9);
  o.order = PsoOrder::synchronous;
  Pso pso({{"a"}, {"b"}}, o);
  std::vector<size_t> batch_sizes;
  const auto r = pso.run_batched([&](const std::vector<std::vector<double>>& xs, const std::vector<EvalInfo>& infos) {
    batch_sizes.push_back(xs.size());
    std::vector<double> f;
    for (size_t k = 0; k < xs.size(); ++k) {
      EXPECT_EQ(infos[k].particle, static_cast<int64_t>(k));
      f.push_back(toy_fitness(xs[k]));
    }
    return f;
  });
  EXPECT_EQ(batch_sizes, (std::vector<size_t>{4, 4, 4}));
  EXPECT_EQ(r.history.size(), 12u);
  // The initial swarm is drawn identically in both orders.
  o.order = PsoOrder::sequential;
  Pso seq({{"a"}, {"b"}}, o);
  const auto s = seq.run([](const std::vector<double>& x, const EvalInfo&) { return toy_fitness(x); });
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(r.history[k].position, s.history[k].position);
}

}  // namespace
