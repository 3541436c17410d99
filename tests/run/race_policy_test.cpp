// --method auto's policy (aft/run/race_policy.h) driven by made-up fitness tables: no training,
// milliseconds. Ties, paired decisions, the hedge, budgets, and a resumed race's cuts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "aft/run/race_policy.h"

namespace {

using aft::run::Standing;

Standing standing(const std::string& label, std::vector<double> folds, int64_t trainable, double rate = 1.0) {
  Standing s;
  s.label = label;
  s.folds = std::move(folds);
  s.trainable = trainable;
  s.rate = rate;
  s.val_images = 33;
  return s;
}

TEST(RacePolicy, ExactTiesKeepTheEntrantsOrderAfterTrainableParameters) {
  // At 1/33 resolution exact ties are common: fewer trainable first, then the earlier entrant.
  const std::vector<Standing> all = {standing("a", {0.5}, 100), standing("b", {0.5}, 100), standing("c", {0.5}, 10),
                                     standing("d", {0.6}, 1000), standing("e", {0.5}, 100)};
  EXPECT_EQ(aft::run::ranked(all, {0, 1, 2, 3, 4}), (std::vector<size_t>{3, 2, 0, 1, 4}));
  EXPECT_EQ(aft::run::ranked(all, {4, 1, 0}), (std::vector<size_t>{0, 1, 4}));  // not the order given
  // The same table always cuts the same way (a resumed race recomputes its cuts from race.json).
  EXPECT_EQ(aft::run::cut(all, {0, 1, 2, 3, 4}), (std::vector<size_t>{3, 2, 0}));
  EXPECT_EQ(aft::run::cut(all, {0, 1, 2, 3, 4}), aft::run::cut(all, {4, 3, 2, 1, 0}));
}

TEST(RacePolicy, TheHedgeAlwaysGoesOn) {
  const std::vector<Standing> all = {standing("linear@3", {0.40, 0.42, 0.38}, 10),
                                     standing("full", {0.10, 0.12, 0.11}, 1000),  // at chance after one rung
                                     standing("lp-ft", {0.35, 0.30, 0.33}, 1000), standing("l2sp", {0.2, 0.2, 0.2}, 1000)};
  // Without a hedge full is cut first; with it, full replaces the last of the better half.
  EXPECT_EQ(aft::run::cut(all, {0, 1, 2, 3}), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(aft::run::cut(all, {0, 1, 2, 3}, 1), (std::vector<size_t>{0, 1}));
  // Two left: the half is the leader alone, and the hedge stays beside it to the last rung.
  EXPECT_EQ(aft::run::cut(all, {0, 1}, 1), (std::vector<size_t>{0, 1}));
  // The hedge leading: it goes on alone; a hedge already cut does not come back.
  const std::vector<Standing> led = {standing("x", {0.2}, 10), standing("full", {0.9}, 1000)};
  EXPECT_EQ(aft::run::cut(led, {0, 1}, 1), (std::vector<size_t>{1}));
  EXPECT_EQ(aft::run::cut(all, {0, 2, 3}, 1), (std::vector<size_t>{0, 2}));
}

TEST(RacePolicy, PairedGapUsesTheSharedFolds) {
  // b trails a by exactly 0.03 on every fold: a paired gap with no error, although each
  // candidate's own spread over the folds is large.
  const auto a = standing("a", {0.90, 0.60, 0.75}, 1000), b = standing("b", {0.87, 0.57, 0.72}, 10);
  const auto gap = aft::run::paired_gap(a, b);
  EXPECT_NEAR(gap.mean, 0.03, 1e-12);
  EXPECT_NEAR(gap.se, 0.0, 1e-12);
  EXPECT_GT(a.spread(), 0.1);
  // So the leader wins: its lead is real (the old unpaired rule gave the tie to b's fewer parameters).
  EXPECT_EQ(aft::run::decide({a, b}, {0, 1}), 0u);
  // Differences that change sign: a lead within its standard error, and b, smaller, takes the tie.
  const auto c = standing("c", {0.84, 0.66, 0.72}, 10);
  const auto noisy = aft::run::paired_gap(a, c);
  EXPECT_NEAR(noisy.mean, 0.01, 1e-12);
  EXPECT_GT(noisy.se, noisy.mean);
  EXPECT_EQ(aft::run::decide({a, c}, {0, 1}), 1u);
}

TEST(RacePolicy, AFoldASearchChoseOnIsNotScored) {
  // partial-angle chose its blocks on fold 0's validation images, where it looks perfect; on the
  // folds it did not see it trails full by 0.05 on each.
  auto searched = standing("partial-angle", {1.00, 0.70, 0.60}, 500);
  searched.chosen_on = 0;
  const auto full = standing("full", {0.70, 0.75, 0.65}, 1000);
  EXPECT_FALSE(searched.scored(0));
  EXPECT_TRUE(searched.scored(1));
  EXPECT_NEAR(searched.fitness(), 0.65, 1e-12);  // not 0.767 with fold 0
  EXPECT_NEAR(searched.spread(), std::sqrt(0.005), 1e-12);
  const auto gap = aft::run::paired_gap(full, searched);  // over folds 1 and 2 only
  EXPECT_NEAR(gap.mean, 0.05, 1e-12);
  EXPECT_NEAR(gap.se, 0.0, 1e-12);
  EXPECT_EQ(aft::run::ranked({searched, full}, {0, 1}), (std::vector<size_t>{1, 0}));
  EXPECT_EQ(aft::run::decide({searched, full}, {0, 1}), 1u);  // a real lead: no tie to the smaller
  // One split has no other fold: it is scored, as before.
  auto single = standing("partial-angle", {0.9}, 500);
  single.chosen_on = 0;
  EXPECT_TRUE(single.scored(0));
  EXPECT_NEAR(single.fitness(), 0.9, 1e-12);
}

TEST(RacePolicy, OneSplitDecidesWithinTheLeadersBinomialSpread) {
  // 33 validation images: the leader's binomial std at 0.8 is sqrt(0.16 / 33) = 0.070.
  const auto lead = standing("full", {0.80}, 1000);
  EXPECT_NEAR(lead.spread(), std::sqrt(0.16 / 33), 1e-12);
  EXPECT_EQ(aft::run::decide({lead, standing("linear", {0.75}, 10)}, {0, 1}), 1u);
  EXPECT_EQ(aft::run::decide({lead, standing("linear", {0.70}, 10)}, {0, 1}), 0u);
  // More parameters never win a tie.
  EXPECT_EQ(aft::run::decide({standing("linear", {0.80}, 10), standing("full", {0.79}, 1000)}, {0, 1}), 0u);
}

TEST(RacePolicy, TheNextRungMustFitTheBudgetWithNoSlack) {
  // Two candidates at measured rates 1.0 and 0.4, from 1 to 2 epochs of 4, 3 folds: the rung is
  // (1.0 + 0.4) x 1 x 3 / 4 = 1.05; the final retrains the costlier on every image, 3 / 2 = 1.5.
  const std::vector<Standing> all = {standing("full", {0.5}, 1000, 1.0), standing("linear", {0.5}, 10, 0.4)};
  const auto cost = aft::run::next_cost(all, {0, 1}, 1, 2, 4, 3);
  EXPECT_NEAR(cost.rung, 1.05, 1e-12);
  EXPECT_NEAR(cost.final, 1.5, 1e-12);
  EXPECT_TRUE(aft::run::fits(1.0, cost, 3.551));
  EXPECT_FALSE(aft::run::fits(1.0, cost, 3.549));  // the old 5 % slack would have let it run up to 3.73
  // One split: the final trains on to --epochs from the rung's end.
  EXPECT_NEAR(aft::run::next_cost(all, {1}, 1, 2, 4, 1).final, 0.4 * 2 / 4, 1e-12);
}

TEST(RacePolicy, TheHedgeChangesNoCountOfThePlan) {
  // 7 candidates, rungs 1, 2, 4 of 40 epochs: 7, 4, 2. A hedge takes the last place of each half,
  // so the counts (and the cost) stay; the last rung's two are the leader and the hedge at worst.
  const auto plan = aft::run::plan_race(7, 40, 3, 1);
  EXPECT_EQ(plan.rung_epochs, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(plan.entrants, (std::vector<int64_t>{7, 4, 2}));
  std::vector<Standing> all;
  for (int i = 0; i < 7; ++i) all.push_back(standing("c" + std::to_string(i), {0.1 * i}, 100));
  std::vector<size_t> in = {0, 1, 2, 3, 4, 5, 6};
  in = aft::run::cut(all, in, 0);  // c0, the hedge, is last
  EXPECT_EQ(in, (std::vector<size_t>{6, 5, 4, 0}));
  in = aft::run::cut(all, in, 0);
  EXPECT_EQ(in, (std::vector<size_t>{6, 0}));
  EXPECT_EQ(aft::run::decide(all, in), 6u);
  // fit_plan: nothing fits a tiny budget, and the 1-epoch plan it returns says so by its cost.
  const auto none = aft::run::fit_plan(4, 8, 3, 0.5, 0);
  EXPECT_EQ(none.rung_epochs.front(), 1);
  EXPECT_GT(none.cost, 0.5);
}

TEST(RacePolicy, ARaceReplayedFromItsTablesCutsTheSameCandidates) {
  // A resumed race rebuilds each rung's standings from race.json and must cut exactly as the
  // uninterrupted one did: the policy is a function of the table alone.
  std::vector<Standing> all;
  for (int i = 0; i < 7; ++i) all.push_back(standing("c" + std::to_string(i), {0.1 * (i % 3), 0.2, 0.3}, 100 - i));
  std::vector<size_t> in = {0, 1, 2, 3, 4, 5, 6};
  const auto first = aft::run::cut(all, in, 0);
  const auto again = aft::run::cut(std::vector<Standing>(all), in, 0);
  EXPECT_EQ(first, again);
  EXPECT_EQ(first.size(), 4u);
  EXPECT_NE(std::find(first.begin(), first.end(), 0u), first.end()) << "the hedge is kept";
}

}  // namespace
