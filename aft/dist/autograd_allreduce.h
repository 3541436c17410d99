// The sum of a tensor over ranks as an autograd operation. Its backward sums the incoming
// gradients over ranks as well: every rank's output (a statistic shared by all, as in
// synchronised batch norm) feeds every rank's loss, so each input's gradient collects all of
// them. Collective in both directions: every rank must call it, and run its backward, in the
// same order.
#pragma once
#include <torch/types.h>

#include "aft/dist/process_group.h"

namespace aft::dist {

// `group` must outlive the backward pass of any graph built with it.
torch::Tensor differentiable_allreduce_sum(Group& group, const torch::Tensor& x);

}  // namespace aft::dist
