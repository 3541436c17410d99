// Mixed precision on CUDA: an autocast scope and a dynamic loss scaler for fp16. The
// autocast API differs between LibTorch 1.13 and 2.x; the difference is wrapped here only.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace aft::train {

class AutocastScope {
 public:
  // mode: off|bf16|fp16; a no-op unless the device is CUDA and mode is not off.
  AutocastScope(const std::string& mode, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
};

// Dynamic loss scaling: scale the loss up, unscale gradients, skip steps whose gradients
// overflowed and halve the scale; double it after a run of good steps.
class LossScaler {
 public:
  explicit LossScaler(bool enabled) : enabled_(enabled) {}
  torch::Tensor scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Unscales gradients in place; returns false when the step must be skipped.
  bool unscale(const std::vector<torch::Tensor>& params);
  double value() const { return scale_; }
  int64_t good_steps() const { return good_steps_; }
  // From a checkpoint: the scale and the run of good steps continue where they were.
  void restore(double scale, int64_t good_steps) {
    scale_ = scale;
    good_steps_ = good_steps;
  }

 private:
  bool enabled_;
  double scale_ = 65536.0;
  int64_t good_steps_ = 0;
};

}  // namespace aft::train
