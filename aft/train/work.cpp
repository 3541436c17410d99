#include "aft/train/work.h"

#include <atomic>

namespace aft::train {
namespace {
std::atomic<double>& counter() {
  static std::atomic<double> value{0.0};
  return value;
}
}  // namespace

double training_work() { return counter().load(); }

void add_training_work(double images) {
  auto& c = counter();
  double now = c.load();
  while (!c.compare_exchange_weak(now, now + images)) {
  }
}

double step_cost(Learner& learner) {
  const auto layers = learner.layers();
  if (layers.empty()) return 1.0;
  size_t first = layers.size();
  for (size_t i = 0; i < layers.size() && first == layers.size(); ++i) {
    for (const auto& t : layers[i]) {
      if (t.requires_grad()) {
        first = i;
        break;
      }
    }
  }
  const double frozen = static_cast<double>(first) / static_cast<double>(layers.size());
  return (1.0 + 2.0 * (1.0 - frozen)) / 3.0;
}

}  // namespace aft::train
