// SpotTune's network (docs/spottune.md): a block trunk (ResNet, EfficientNet) whose residual blocks exist twice, a
// frozen copy F_b (kept in place inside the backbone) and a tuned copy T_b, plus a small
// policy network whose hard Gumbel-Softmax decisions pick one copy per image and block.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <vector>

#include "aft/models/block_trunk.h"
#include "aft/models/model.h"
#include "aft/models/resnet.h"

namespace aft::methods {

// g = -log(-log(U + 1e-20) + 1e-20), U ~ Uniform(0, 1), shaped like `like` and of its dtype
// (computed in float32 whatever that dtype is, so that fp16 noise is finite).
torch::Tensor gumbel_noise(const torch::Tensor& like);
// Hard one-hot of argmax((logits + noise) / T) over the last dimension in the forward pass,
// with the gradient of the soft sample (straight-through): (hard - y).detach() + y.
torch::Tensor gumbel_softmax_hard(const torch::Tensor& logits, const torch::Tensor& noise, double temperature);

// The reference agent: the ResNet-26 family with one basic block per stage, stem
// 32 -> 64 -> 128 -> 256 channels (times `width`), each stage stride 2, BN + ReLU, global
// pool, and a linear layer to 2 logits per routed block. Randomly initialised.
class PolicyNet : public torch::nn::Module {
 public:
  PolicyNet(int64_t num_blocks, double width);
  // Logits shaped [N, num_blocks, 2]; index 1 is the tuned path.
  torch::Tensor forward(torch::Tensor x);

 private:
  int64_t num_blocks_;
  torch::nn::Conv2d conv1_{nullptr};
  models::BatchNorm2d bn1_{nullptr}, final_bn_{nullptr};  // synchronised under --sync-bn
  std::vector<std::shared_ptr<models::BasicBlock>> blocks_;
  torch::nn::Linear fc_{nullptr};
};

class SpotTuneNet : public torch::nn::Module {
 public:
  // Takes the pretrained model (its blocks become the frozen copies) and clones each block
  // into the tuned copy. The structure depends only on the architecture, so a saved run
  // loads back into SpotTuneNet(build_model(config), width) strictly. The model must be a
  // models::BlockTrunk.
  SpotTuneNet(models::ModelPtr backbone, double policy_width);

  int64_t num_blocks() const { return static_cast<int64_t>(frozen_.size()); }
  models::VisionModel& backbone() { return *backbone_; }
  models::BlockTrunk& trunk() { return *trunk_; }
  const std::vector<std::shared_ptr<models::ResidualBlock>>& frozen_blocks() const { return frozen_; }
  const std::vector<std::shared_ptr<models::ResidualBlock>>& tuned_blocks() const { return tuned_; }
  PolicyNet& policy() { return *policy_; }

  // Both copies of every block on every image, mixed after each block's join (ResNet: ReLU):
  // x_{b+1} = (1 - a_b) relu(s_b + F_b(x_b)) + a_b relu(s_b + T_b(x_b)). `actions` is [N, B]
  // (float; may carry the straight-through gradient to the policy).
  torch::Tensor forward_two_path(const torch::Tensor& images, const torch::Tensor& actions);
  // Only the chosen copy per image and block: the batch is split by decision, each copy runs
  // on its rows, and the results are scattered back. Equals forward_two_path for 0/1 actions
  // (up to the convolution's batch-size-dependent rounding); for inference.
  torch::Tensor forward_split(const torch::Tensor& images, const torch::Tensor& actions);

 private:
  // Output of block b's copy `block` on x; a parameter-free shortcut (identity, ResNet-26's
  // pool-and-pad) is computed once per block and shared, as in the reference.
  torch::Tensor run_copy(models::ResidualBlock& block, const torch::Tensor& x, const torch::Tensor& shortcut);

  models::ModelPtr backbone_;
  models::BlockTrunk* trunk_ = nullptr;  // backbone_ seen as its blocks
  torch::nn::ModuleList tuned_list_{nullptr};
  std::shared_ptr<PolicyNet> policy_;
  std::vector<std::shared_ptr<models::ResidualBlock>> frozen_, tuned_;
  std::vector<bool> shared_shortcut_;  // true where the shortcut has no parameters
};

}  // namespace aft::methods
