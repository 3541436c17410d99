// --method auto (docs/auto.md): races the other methods by successive halving on
// validation accuracy within a budget of training work, then trains the winner to the end and
// tests it once. Every candidate is a run of the one Trainer in RUN/race/LABEL/foldF, which
// continues from its own checkpoint between rungs; RUN/race.json records each finished step,
// so a killed race resumes (`aft finetune --resume RUN`) without repeating any.
#pragma once
#include <nlohmann/json.hpp>

#include "aft/run/job.h"

namespace aft::run {

// Runs the race for `spec` (method auto) and returns summary.json's content; RUN then holds the
// winner's model like any run, and its config.json names the winner's method, options and rate as
// the run's own ("chosen_by": the race's options and the winner's label).
nlohmann::json run_auto(JobSpec& spec);

}  // namespace aft::run
