// --sync-bn: batch norms that normalise with the statistics of the global batch, all ranks'
// samples together, as torch.nn.SyncBatchNorm does. Each rank shares its per-channel count,
// mean and variance through a differentiable all-reduce, so the backward pass runs through
// it too and gradients are those of one process holding the whole batch.
#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "aft/dist/process_group.h"
#include "aft/models/batch_norm.h"

namespace aft::train {

class SyncBatchNorm : public models::BatchNormOverride {
 public:
  explicit SyncBatchNorm(dist::GroupPtr group);
  // Training-mode forward: global mean and biased variance normalise; the running mean and the
  // unbiased running variance are updated with the global ones (momentum as torch's).
  torch::Tensor forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) override;

 private:
  dist::GroupPtr group_;
};

// Hands every batch norm of `module` to one SyncBatchNorm while it lives, and gives them
// torch's forward back when it ends. Throws, naming it, on a batch norm it cannot take over
// (a plain torch::nn::BatchNorm2d, not aft's models::BatchNorm2d).
class SyncBatchNormScope {
 public:
  SyncBatchNormScope(torch::nn::Module& module, dist::GroupPtr group);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
  size_t size() const { return norms_.size(); }

 private:
  std::vector<std::shared_ptr<models::BatchNorm2dImpl>> norms_;
};

}  // namespace aft::train
