#include "aft/dist/autograd_allreduce.h"

#include <torch/torch.h>

#include <cstdint>

namespace aft::dist {
namespace {

// Sums a copy (inputs stay as they are; autograd may still need them) on the group's device.
torch::Tensor summed(Group& group, const torch::Tensor& t) {
  torch::Tensor buf = t.to(group.device()).contiguous().clone();
  group.allreduce_sum(buf);
  return buf.to(t.device());
}

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, Group* group) {
    // saved_data holds IValues only; the group travels as its address (the caller keeps it alive).
    ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(group));
    return summed(*group, x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<Group*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
    // One gradient per forward argument: the tensor's, and none for the group.
    return {summed(*group, grads[0]), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor differentiable_allreduce_sum(Group& group, const torch::Tensor& x) {
  return AllReduceSum::apply(x, &group);
}

}  // namespace aft::dist
