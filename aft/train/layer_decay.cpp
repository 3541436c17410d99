#include "aft/train/layer_decay.h"

#include <cmath>

#include "aft/core/error.h"

namespace aft::train {

std::map<const void*, double> layer_decay_scales(Learner& learner, double decay) {
  std::map<const void*, double> out;
  if (decay == 1) return out;
  auto layers = learner.layers();
  check(!layers.empty(), "--layer-decay: ", learner.name(), " gives no layer order for its parameters");
  // Only layers with a trainable tensor count, so a frozen prefix does not shrink the rates of
  // the layers that train (timm #2691, #2712); the head is always the top layer.
  std::vector<std::vector<torch::Tensor>> trainable;
  for (auto& layer : layers) {
    std::vector<torch::Tensor> kept;
    for (auto& p : layer) {
      if (p.requires_grad()) kept.push_back(p);
    }
    if (!kept.empty()) trainable.push_back(std::move(kept));
  }
  const auto top = static_cast<int64_t>(trainable.size()) - 1;
  for (int64_t l = 0; l <= top; ++l) {
    const double scale = std::pow(decay, static_cast<double>(top - l));
    for (auto& p : trainable[l]) out[p.unsafeGetTensorImpl()] = scale;
  }
  return out;
}

}  // namespace aft::train
