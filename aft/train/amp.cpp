#include "aft/train/amp.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

namespace aft::train {

AutocastScope::AutocastScope(const std::string& mode, const torch::Device& device) {
  if (mode == "off" || !device.is_cuda()) return;
  const auto dtype = mode == "bf16" ? at::kBFloat16 : at::kHalf;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  at::autocast::set_autocast_gpu_dtype(dtype);
  at::autocast::set_enabled(true);
#endif
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
  at::autocast::set_enabled(false);
#endif
  at::autocast::clear_cache();
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  bool finite = true;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    p.mutable_grad().div_(scale_);
    if (finite && !torch::isfinite(p.grad()).all().item<bool>()) finite = false;
  }
  if (!finite) {
    scale_ /= 2;
    good_steps_ = 0;
    return false;
  }
  if (++good_steps_ >= 2000) {
    scale_ *= 2;
    good_steps_ = 0;
  }
  return true;
}

}  // namespace aft::train
