// torch's BatchNorm2d with one seam: in training mode its forward can be handed to a
// replacement (synchronised batch norm over processes, which the trainer sets for --sync-bn).
// It is a torch::nn::BatchNorm2dImpl, so methods that look for batch norms still find it, and
// its parameter and buffer names are torch's, so weights load and save unchanged.
#pragma once
#include <torch/nn/modules/batchnorm.h>

#include <memory>
#include <ostream>
#include <utility>

namespace aft::models {

// What computes a batch norm's training-mode forward instead of torch's (normalising and
// updating the running statistics).
class BatchNormOverride {
 public:
  virtual ~BatchNormOverride() = default;
  virtual torch::Tensor forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) = 0;
};

class BatchNorm2dImpl : public torch::nn::BatchNorm2dImpl {
 public:
  explicit BatchNorm2dImpl(int64_t features) : BatchNorm2dImpl(torch::nn::BatchNormOptions(features)) {}
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& options) : torch::nn::BatchNorm2dImpl(options) {}

  torch::Tensor forward(const torch::Tensor& x) {
    if (override_ && is_training()) return override_->forward(*this, x);
    return torch::nn::BatchNorm2dImpl::forward(x);
  }
  // nullptr restores torch's forward.
  void set_override(std::shared_ptr<BatchNormOverride> o) { override_ = std::move(o); }
  bool overridden() const { return override_ != nullptr; }
  // Prints what torch's does (see batch_norm.cpp for why the base's is defined there too).
  void pretty_print(std::ostream& stream) const override;

 private:
  std::shared_ptr<BatchNormOverride> override_;
};
TORCH_MODULE(BatchNorm2d);

}  // namespace aft::models
