// Learning-rate schedules as a pure function of training progress, so resuming at any
// epoch gives exactly the rate an uninterrupted run would have used.
#pragma once
#include "aft/train/train_options.h"

namespace aft::train {

// Multiplier of the base learning rate at `epoch` + `step`/`steps_per_epoch`.
double lr_factor(const TrainOptions& options, int64_t epoch, int64_t step, int64_t steps_per_epoch);

}  // namespace aft::train
