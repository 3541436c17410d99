// Parallel PSO: a synchronous search spread over 2 or 3 ranks has exactly the history of the
// same search in one process: positions, fitness, learning curves and pruning decisions.
#include "aft/search/parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <set>

#include "aft/core/error.h"
#include "tests/dist/dist_test_util.h"

namespace {

using namespace aft::search;

// A deterministic "proxy run": three epochs whose accuracy rises towards a peak at 0.3.
double fake_fitness(const std::vector<double>& x, const EvalInfo& info) {
  double d = 0;
  for (double v : x) d += (v - 0.3) * (v - 0.3);
  double best = 0;
  for (int64_t e = 0; e < 3; ++e) {
    const double acc = (1.0 - d) * (0.6 + 0.2 * static_cast<double>(e)) + 1e-3 * std::sin(7 * x[0]);
    best = std::max(best, acc);
    if (!info.epoch_done(e, acc)) break;
  }
  return best;
}

PsoOptions options() {
  PsoOptions o;
  o.particles = 5;
  o.iterations = 3;
  o.seed = 11;
  o.prune_margin = 0.05;
  o.order = PsoOrder::synchronous;
  return o;
}

std::vector<PsoDimension> dims() { return {{"a", 0, 1, 0.2}, {"b", 0, 1, 0.2}, {"c", 0, 1, 0.2}}; }

void expect_same_history(const PsoResult& a, const PsoResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    const auto& x = a.history[i];
    const auto& y = b.history[i];
    EXPECT_EQ(x.iteration, y.iteration);
    EXPECT_EQ(x.particle, y.particle);
    EXPECT_EQ(x.position, y.position) << "evaluation " << i;
    EXPECT_EQ(x.fitness, y.fitness) << "evaluation " << i;
    EXPECT_EQ(x.curve, y.curve) << "evaluation " << i;
    EXPECT_EQ(x.pruned, y.pruned) << "evaluation " << i;
  }
  EXPECT_EQ(a.gbest_position, b.gbest_position);
  EXPECT_EQ(a.gbest_fitness, b.gbest_fitness);
  EXPECT_EQ(a.gbest_per_iteration, b.gbest_per_iteration);
}

TEST(ParallelSearch, OrderFlag) {
  EXPECT_EQ(resolve_pso_order("auto", nullptr), PsoOrder::sequential);
  EXPECT_EQ(resolve_pso_order("synchronous", nullptr), PsoOrder::synchronous);
  EXPECT_THROW(resolve_pso_order("random", nullptr), aft::Error);
}

TEST(ParallelSearch, WithoutAGroupItIsThePlainLoop) {
  Pso plain(dims(), options());
  const auto reference = plain.run(fake_fitness);
  Pso spread(dims(), options());
  expect_same_history(reference, spread.run_batched(spread_over_ranks(nullptr, fake_fitness)));
  bool pruned = false;
  for (const auto& e : reference.history) pruned = pruned || e.pruned;
  EXPECT_TRUE(pruned) << "the test should exercise pruning";
}

class ParallelSearchRanks : public ::testing::TestWithParam<int> {};

TEST_P(ParallelSearchRanks, SameHistoryAsOneProcess) {
  Pso single(dims(), options());
  const auto reference = single.run_batched(spread_over_ranks(nullptr, fake_fitness));
  const int world = GetParam();
  std::vector<PsoResult> results(world);
  std::mutex mutex;
  std::vector<std::set<int64_t>> evaluated(world);
  aft::testing::run_ranks(world, 30, [&](aft::dist::Group& g) {
    const int rank = g.rank();
    auto counting = [&, rank](const std::vector<double>& x, const EvalInfo& info) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        evaluated[rank].insert(info.iteration * 100 + info.particle);
      }
      return fake_fitness(x, info);
    };
    Pso pso(dims(), options());
    // The group outlives the search; the shared_ptr must not delete it.
    results[rank] = pso.run_batched(spread_over_ranks(std::shared_ptr<aft::dist::Group>(&g, [](auto*) {}), counting));
  });
  size_t total = 0;
  for (int r = 0; r < world; ++r) {
    expect_same_history(reference, results[r]);
    EXPECT_FALSE(evaluated[r].empty()) << "rank " << r << " evaluated nothing";
    total += evaluated[r].size();
  }
  EXPECT_EQ(total, reference.history.size()) << "each evaluation runs on exactly one rank";
}

INSTANTIATE_TEST_SUITE_P(World, ParallelSearchRanks, ::testing::Values(2, 3));

TEST(ParallelSearch, AFailingEvaluationFailsEveryRank) {
  std::vector<std::string> messages(2);
  aft::testing::run_ranks(2, 30, [&](aft::dist::Group& g) {
    auto failing = [](const std::vector<double>& x, const EvalInfo& info) {
      if (info.particle == 1) throw aft::Error("proxy run exploded");
      return fake_fitness(x, info);
    };
    Pso pso(dims(), options());
    try {
      pso.run_batched(spread_over_ranks(std::shared_ptr<aft::dist::Group>(&g, [](auto*) {}), failing));
    } catch (const aft::Error& e) {
      messages[g.rank()] = e.what();
    }
  });
  EXPECT_EQ(messages[1], "proxy run exploded");
  EXPECT_NE(messages[0].find("failed on rank 1"), std::string::npos) << messages[0];
}

}  // namespace
