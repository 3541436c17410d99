// What ResNets and EfficientNets share: a trunk made of a stem, a chain of residual blocks and
// an end that turns the last block's output into pooled features. Methods that route blocks
// themselves (SpotTune's frozen and tuned copies, docs/design.md "Block trunks") work on this
// interface, not on one architecture.
#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace aft::models {

class ResidualBlock : public torch::nn::Module {
 public:
  // The residual path up to (not including) the join with the shortcut.
  virtual torch::Tensor branch(torch::Tensor x) = 0;
  // The shortcut's output, or an undefined tensor where the block has none (an EfficientNet
  // block that changes resolution or width).
  virtual torch::Tensor shortcut(torch::Tensor x) = 0;
  // Combines a branch output (fresh, may be modified in place) with a shortcut output
  // (possibly undefined). ResNet: the sum, then ReLU; EfficientNet: the sum alone.
  virtual torch::Tensor join(torch::Tensor branch, const torch::Tensor& shortcut) = 0;
  torch::Tensor forward(torch::Tensor x) {
    auto out = branch(x);
    return join(std::move(out), shortcut(x));
  }
  // A new block of the same shape holding a copy of this block's parameters and buffers.
  virtual std::shared_ptr<ResidualBlock> clone_block() const = 0;
  // Names (relative to the block) of its convolutions in input-to-output order.
  virtual std::vector<std::string> conv_names() const = 0;
  // The norm that follows conv_names()[i] ("conv1" -> "bn1").
  virtual std::string norm_of(size_t conv_index) const { return "bn" + std::to_string(conv_index + 1); }
  // Names of the convolution and norm of a projection shortcut, if the block has one.
  virtual std::vector<std::string> downsample_names() const { return {}; }
};

class BlockTrunk {
 public:
  virtual ~BlockTrunk() = default;
  // features(x) == pool(every block in order on stem(x)).
  virtual torch::Tensor stem(torch::Tensor x) = 0;
  virtual torch::Tensor pool(torch::Tensor x) = 0;
  virtual const std::vector<std::shared_ptr<ResidualBlock>>& blocks() const = 0;
  virtual const std::vector<std::string>& block_names() const = 0;  // full module names
};

// Copies parameters (with their requires_grad) and buffers between two modules of one shape.
void copy_module_state(const torch::nn::Module& from, torch::nn::Module& to);

}  // namespace aft::models
