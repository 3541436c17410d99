#include "aft/models/block_trunk.h"

#include <torch/utils.h>

namespace aft::models {

void copy_module_state(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto dst_params = to.named_parameters(true);
  for (const auto& p : from.named_parameters(true)) {
    dst_params[p.key()].copy_(p.value());
    dst_params[p.key()].set_requires_grad(p.value().requires_grad());
  }
  auto dst_buffers = to.named_buffers(true);
  for (const auto& b : from.named_buffers(true)) dst_buffers[b.key()].copy_(b.value());
}

}  // namespace aft::models
