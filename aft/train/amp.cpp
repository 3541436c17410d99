#include "aft/train/amp.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>

#include "aft/core/torch_compat.h"

namespace aft::train {

AutocastScope::AutocastScope(const std::string& mode, const torch::Device& device) {
  if (mode == "off" || !device.is_cuda()) return;
  const auto dtype = mode == "bf16" ? at::kBFloat16 : at::kHalf;
#if AFT_TORCH_AUTOCAST_BY_DEVICE
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
#if AFT_TORCH_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
  at::autocast::set_enabled(false);
#endif
  at::autocast::clear_cache();
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  if (grads.empty()) return true;
  // One check over every gradient, read back once: an isfinite().item() per parameter would
  // wait for the device once per parameter in every fp16 step (docs/build.md, GPU path).
  bool finite = true;
  const auto& first = grads.front();
  const bool one_device = std::all_of(grads.begin(), grads.end(),
                                      [&](const torch::Tensor& g) { return g.device() == first.device(); });
  if (one_device && first.is_cuda()) {
    // PyTorch's own fused kernel (what its GradScaler calls): unscales and flags in one pass.
    auto found_inf = torch::zeros({1}, first.options().dtype(torch::kFloat));
    const auto inv_scale = torch::full({1}, 1.0 / scale_, first.options().dtype(torch::kFloat));
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
    finite = found_inf.item<float>() == 0.0f;
  } else {
    std::vector<torch::Tensor> each;
    each.reserve(grads.size());
    for (auto& g : grads) {
      g.div_(scale_);
      each.push_back(torch::isfinite(g).all());
    }
    // aft keeps a model on one device; were it split, the flags would meet on the CPU.
    if (!one_device) {
      for (auto& f : each) f = f.cpu();
    }
    finite = torch::stack(each).all().item<bool>();
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
