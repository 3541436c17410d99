// `bss` (Chen et al., NeurIPS 2019, "Catastrophic Forgetting Meets Negative Transfer: Batch
// Spectral Shrinkage for Safe Transfer Learning"): full fine-tuning plus a penalty on the k
// smallest singular values of the batch's penultimate feature matrix, which shrinks the
// feature directions the small target task cannot support (the negative transfer).
#pragma once
#include <torch/types.h>

#include "aft/methods/registry.h"

namespace aft::methods {

struct BssOptions : Options {
  double weight = 0.001;  // the reference's trade-off
  int64_t k = 1;          // how many of the smallest singular values are penalised
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// sum of the squares of the k smallest singular values of features [N, D]; k is capped at
// min(N, D), the number of singular values (a short last batch).
torch::Tensor bss_penalty(const torch::Tensor& features, int64_t k);

MethodInfo bss_method();

}  // namespace aft::methods
