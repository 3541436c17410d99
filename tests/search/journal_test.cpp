// A search killed at any evaluation resumes from its journal: no finished evaluation runs
// again, and the resumed search ends exactly where an uninterrupted one does.
#include "aft/search/journal.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/search/pso.h"

namespace {

using aft::search::EvalInfo;
using aft::search::Pso;
using aft::search::PsoDimension;
using aft::search::PsoOptions;
using aft::search::PsoOrder;
using aft::search::PsoResult;

struct Killed : std::runtime_error {
  Killed() : std::runtime_error("killed") {}
};

// A fitness with a learning curve (so pruning has something to compare) that dies after `budget` calls.
struct CountingFitness {
  int calls = 0;
  int budget = 1 << 30;
  double operator()(const std::vector<double>& x, const EvalInfo& info) {
    if (calls >= budget) throw Killed();
    ++calls;
    double f = 1.0;
    for (size_t j = 0; j < x.size(); ++j) f -= (x[j] - 0.2 * (j + 1)) * (x[j] - 0.2 * (j + 1));
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      if (!info.epoch_done(epoch, f * (epoch + 1) / 3.0)) break;
    }
    return f;
  }
};

PsoOptions options(PsoOrder order, const std::string& journal) {
  auto o = PsoOptions::paper();
  o.particles = 4;
  o.iterations = 3;
  o.inertia_drop = 0.7 / 3;
  o.seed = 11;
  o.order = order;
  o.prune_margin = 0.05;
  o.journal = journal;
  return o;
}

std::vector<PsoDimension> dims() { return {{"a", 0, 1, 0.2}, {"b", 0, 1, 0.2}, {"c", 0, 1, 0.2}}; }

PsoResult run(PsoOrder order, const std::string& journal, CountingFitness& fitness) {
  Pso pso(dims(), options(order, journal));
  return pso.run([&](const std::vector<double>& x, const EvalInfo& info) { return fitness(x, info); });
}

void expect_same_search(const PsoResult& a, const PsoResult& b) {
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t k = 0; k < a.history.size(); ++k) {
    EXPECT_EQ(a.history[k].position, b.history[k].position) << k;
    EXPECT_EQ(a.history[k].fitness, b.history[k].fitness) << k;
    EXPECT_EQ(a.history[k].curve, b.history[k].curve) << k;
    EXPECT_EQ(a.history[k].pruned, b.history[k].pruned) << k;
  }
  EXPECT_EQ(a.gbest_position, b.gbest_position);
  EXPECT_EQ(a.gbest_per_iteration, b.gbest_per_iteration);
}

TEST(SearchJournal, AKilledSearchResumesWithoutRepeatingAnEvaluation) {
  for (auto order : {PsoOrder::sequential, PsoOrder::synchronous}) {
    CountingFitness plain;
    const auto uninterrupted = run(order, "", plain);
    ASSERT_EQ(plain.calls, 16);
    for (int killed_after : {0, 1, 5, 9, 15}) {
      const std::string journal = ::testing::TempDir() + "/aft_journal_" + std::to_string(killed_after) + ".jsonl";
      aft::fs::remove_all(journal);
      CountingFitness first;
      first.budget = killed_after;
      EXPECT_THROW(run(order, journal, first), Killed);
      CountingFitness second;
      const auto resumed = run(order, journal, second);
      // Synchronous batches of 4 are recorded whole: a batch cut midway runs again in full.
      const int kept = order == PsoOrder::sequential ? killed_after : killed_after / 4 * 4;
      EXPECT_EQ(second.calls, 16 - kept) << "killed after " << killed_after;
      expect_same_search(uninterrupted, resumed);
      // A third run replays everything.
      CountingFitness third;
      expect_same_search(uninterrupted, run(order, journal, third));
      EXPECT_EQ(third.calls, 0);
    }
  }
}

TEST(SearchJournal, ATornLastLineIsDroppedAndRunAgain) {
  const std::string journal = ::testing::TempDir() + "/aft_journal_torn.jsonl";
  aft::fs::remove_all(journal);
  CountingFitness first;
  first.budget = 6;
  EXPECT_THROW(run(PsoOrder::sequential, journal, first), Killed);
  aft::fs::append_line(journal, "[{\"position\": [0.1, 0.");  // a kill in the middle of a write
  CountingFitness second;
  const auto resumed = run(PsoOrder::sequential, journal, second);
  EXPECT_EQ(second.calls, 10);
  CountingFitness plain;
  expect_same_search(run(PsoOrder::sequential, "", plain), resumed);
}

TEST(SearchJournal, AJournalOfAnotherSearchIsRefused) {
  const std::string journal = ::testing::TempDir() + "/aft_journal_other.jsonl";
  aft::fs::remove_all(journal);
  CountingFitness first;
  run(PsoOrder::sequential, journal, first);
  auto other = options(PsoOrder::sequential, journal);
  other.seed = 12;
  Pso pso(dims(), other);
  CountingFitness second;
  try {
    pso.run([&](const std::vector<double>& x, const EvalInfo& info) { return second(x, info); });
    FAIL() << "a journal of another search was replayed";
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("another search"), std::string::npos) << e.what();
  }
  EXPECT_EQ(second.calls, 0);
}

}  // namespace
