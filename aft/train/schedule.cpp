#include "aft/train/schedule.h"

#include <cmath>

namespace aft::train {

double lr_factor(const TrainOptions& o, int64_t epoch, int64_t step, int64_t steps_per_epoch) {
  const double progress = epoch + (steps_per_epoch > 0 ? static_cast<double>(step) / steps_per_epoch : 0.0);
  double warm = 1.0;
  if (o.warmup_epochs > 0 && progress < o.warmup_epochs) warm = (progress + 1.0 / std::max<int64_t>(1, steps_per_epoch)) / o.warmup_epochs;
  double factor = 1.0;
  if (o.schedule == "step") {
    factor = std::pow(o.gamma, static_cast<double>(epoch / o.step_size));
  } else if (o.schedule == "multistep") {
    for (int64_t m : o.milestone_list()) {
      if (epoch >= m) factor *= o.gamma;
    }
  } else if (o.schedule == "cosine") {
    // Cosine decay over the post-warm-up part of training, evaluated per step.
    const double span = std::max(1e-9, o.epochs - o.warmup_epochs);
    const double t = std::min(1.0, std::max(0.0, (progress - o.warmup_epochs) / span));
    factor = 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return std::min(1.0, warm) * factor;
}

}  // namespace aft::train
