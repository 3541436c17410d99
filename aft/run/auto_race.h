// --method auto (methods/auto.md): races the other methods by successive halving on
// validation accuracy within a budget of training work, then trains the winner to the end and
// tests it once. Every candidate is a run of the one Trainer in RUN/race/LABEL/foldF, which
// continues from its own checkpoint between rungs; RUN/race.json records each finished step,
// so a killed race resumes (`aft finetune --resume RUN`) without repeating any.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "aft/data/dataset.h"
#include "aft/run/job.h"

namespace aft::run {

// Runs the race for `spec` (method auto) and returns summary.json's content; RUN then holds the
// winner's model like any run, and its config.json names the winner under "winner".
nlohmann::json run_auto(JobSpec& spec);

// The rungs' cumulative epochs: first_rung, doubling, up to `epochs`, with candidates halved
// (rounded up) after each rung until one is left. Its cost in full fine-tunes counts every
// entrant at `rate` full fine-tunes per --epochs epochs, k folds each, plus the winner's final
// training (on to --epochs; with folds, again on every training image).
struct RacePlan {
  std::vector<int64_t> rung_epochs;
  std::vector<int64_t> entrants;  // candidates in each rung
  double cost = 0;
};
// `searches`: the candidates' one-off prepare() searches, in full fine-tunes, added once.
RacePlan plan_race(int64_t candidates, int64_t epochs, int64_t folds, int64_t first_rung, double rate = 1.0,
                   double searches = 0);
// The longest first rung whose plan fits the budget (or `first_rung` when > 0); 1 when none fits.
RacePlan fit_plan(int64_t candidates, int64_t epochs, int64_t folds, double budget, int64_t first_rung,
                  double rate = 1.0, double searches = 0);

// Stratified k folds of `pool` (seeded): fold f's {train, validation}; every image is validated
// exactly once over the k folds.
std::vector<std::pair<std::vector<size_t>, std::vector<size_t>>> k_folds(const data::Dataset& dataset,
                                                                          const std::vector<size_t>& pool, int64_t k,
                                                                          uint64_t seed);

}  // namespace aft::run
