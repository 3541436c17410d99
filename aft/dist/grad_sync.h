// Data parallelism's two obligations: every rank starts from rank 0's weights, and every
// optimizer step uses the gradient averaged over ranks. Gradients travel in flat buckets
// (~25 MB, as PyTorch's DDP) whose all-reduces are all in flight at once.
#pragma once
#include <torch/nn/module.h>

#include <vector>

#include "aft/dist/process_group.h"

namespace aft::dist {

class GradientSync {
 public:
  GradientSync(GroupPtr group, std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20);
  // Call after backward, before anything reads the gradients (masks, clipping, the step).
  // A parameter without a gradient on one rank counts as zeros there; it stays without a
  // gradient only when no rank produced one (so optimizers skip it exactly as in one process).
  void average();
  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<size_t> members;
    int64_t numel = 0;
  };
  GroupPtr group_;
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
};

// Overwrites every rank's tensors with rank `root`'s values (flattened per dtype: one message).
void broadcast_tensors(Group& group, const std::vector<torch::Tensor>& tensors, int root = 0);
// Parameters and buffers (batch-norm statistics, masks) of a module, from rank `root`.
void broadcast_module(Group& group, torch::nn::Module& module, int root = 0);

}  // namespace aft::dist
