// --method auto's policy (docs/auto.md, "The race"): the plan of rungs and its cost, the cut
// after a rung, the budget's check before the next one, and the final decision. Pure functions
// of the race's figures, apart from the training that produces them: tests drive them with
// made-up fitness tables (tests/run/race_policy_test.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace aft::data {
class Dataset;
}

namespace aft::run {

// The rungs' cumulative epochs: first_rung, doubling, up to `epochs`, with candidates halved
// (rounded up) after each rung until one is left. A hedge (cut() below) changes no count: it
// takes the place of the last of the half, so the last rung's two are the leader and the hedge
// at worst, and decide() picks between them. Its cost in full fine-tunes counts every entrant at `rate` full fine-tunes per --epochs
// epochs, k folds each, plus the winner's final training (on to --epochs; with folds, again on
// every training image).
struct RacePlan {
  std::vector<int64_t> rung_epochs;
  std::vector<int64_t> entrants;  // candidates in each rung
  double cost = 0;
};
// `searches`: the candidates' one-off prepare() searches, in full fine-tunes, added once.
RacePlan plan_race(int64_t candidates, int64_t epochs, int64_t folds, int64_t first_rung, double rate = 1.0,
                   double searches = 0);
// The longest first rung whose plan fits the budget (or `first_rung` when > 0); when none fits,
// the 1-epoch plan, whose cost is then above the budget (the caller refuses or raises it).
RacePlan fit_plan(int64_t candidates, int64_t epochs, int64_t folds, double budget, int64_t first_rung,
                  double rate = 1.0, double searches = 0);

// Stratified k folds of `pool` (seeded): fold f's {train, validation}; every image is validated
// exactly once over the k folds.
std::vector<std::pair<std::vector<size_t>, std::vector<size_t>>> k_folds(const data::Dataset& dataset,
                                                                          const std::vector<size_t>& pool, int64_t k,
                                                                          uint64_t seed);

// One candidate's figures after its latest rung.
struct Standing {
  std::string label;
  std::vector<double> folds;  // best validation accuracy on each fold: the same folds for every candidate
  int64_t trainable = 0;
  int64_t val_images = 0;     // one split: its size, for the binomial spread
  double rate = 0;            // measured work per --epochs epochs on one fold, in full fine-tunes
  // With folds: the fold whose validation images the candidate's prepare() search chose by (its
  // units, ratios), -1 for none. That fold is not scored: a choice is judged on images it did
  // not see. One split cannot spare one, and scores it anyway (docs/auto.md).
  int64_t chosen_on = -1;
  // Whether fold f counts towards this candidate's figures.
  bool scored(size_t f) const;
  // The scored folds' mean; -1 before the first rung.
  double fitness() const;
  // Over two or more scored folds: their standard deviation; else the binomial std of the
  // accuracy on `val_images` images.
  double spread() const;
};

// a - b over the folds both share and both score: the mean of the per-fold differences and its
// standard error (0 with one such fold: no fold-to-fold variation to measure).
struct PairedGap {
  double mean = 0;
  double se = 0;
};
PairedGap paired_gap(const Standing& a, const Standing& b);

// `in` ordered best first: higher fitness, then fewer trainable parameters, then the earlier
// entrant (exact ties, common at a resolution of 1/33, keep the entrants' order).
std::vector<size_t> ranked(const std::vector<Standing>& all, std::vector<size_t> in);

// The better half of `in` (rounded up), in ranked order. `hedge` (an index into `all`, or -1):
// when it is in `in`, it always goes on, in place of the last of the half if it was not in it;
// and when the half would be the leader alone, the hedge joins it.
std::vector<size_t> cut(const std::vector<Standing>& all, const std::vector<size_t>& in, int64_t hedge = -1);

// The work, in full fine-tunes, of training `in` from `done` to `next` epochs on every fold, and
// of the final training of the costliest of them afterwards. Rates come from the standings.
struct NextCost {
  double rung = 0;
  double final = 0;
};
NextCost next_cost(const std::vector<Standing>& all, const std::vector<size_t>& in, int64_t done, int64_t next,
                   int64_t epochs, int64_t folds);
// Whether the next rung and the final fit: spent + rung + final <= budget. No slack: the budget
// is a limit.
bool fits(double spent, const NextCost& cost, double budget);

// The winner among `in`: the leader by fitness, unless a candidate that trains fewer parameters
// trails it by no more than the gap's standard error. With two or more shared scored folds the
// gap is paired over them; else the leader's spread stands in for it.
size_t decide(const std::vector<Standing>& all, const std::vector<size_t>& in);

}  // namespace aft::run
