#include "aft/methods/method.h"

namespace aft::methods {

int64_t count_params(const torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true)) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

}  // namespace aft::methods
