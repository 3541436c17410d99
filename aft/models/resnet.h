// torchvision-exact ResNets (18/34 basic, 50/101 bottleneck v1.5) plus SpotTune's ResNet-26,
// with torchvision's parameter and buffer names. Residual blocks share one base class so a
// method can run a frozen and a tuned copy of each block (SpotTune) around the same stem/head.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <vector>

#include "aft/models/batch_norm.h"
#include "aft/models/block_trunk.h"
#include "aft/models/model.h"

namespace aft::models {

// torchvision's BasicBlock (ResNet-18/34) and SpotTune's ResNet-26 block, which differs only
// by its parameter-free shortcut (2x2 average pool, then zero channels appended).
class BasicBlock : public ResidualBlock {
 public:
  enum class Shortcut { projection, zero_pad };
  BasicBlock(int64_t in, int64_t planes, int64_t stride, Shortcut kind);
  torch::Tensor branch(torch::Tensor x) override;
  torch::Tensor shortcut(torch::Tensor x) override;
  std::shared_ptr<ResidualBlock> clone_block() const override;
  torch::Tensor join(torch::Tensor branch, const torch::Tensor& shortcut) override;
  std::vector<std::string> conv_names() const override { return {"conv1", "conv2"}; }
  std::vector<std::string> downsample_names() const override;

 private:
  int64_t in_, planes_, stride_;
  Shortcut kind_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

// torchvision's Bottleneck (v1.5: the stride sits on the 3x3 conv).
class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor branch(torch::Tensor x) override;
  torch::Tensor shortcut(torch::Tensor x) override;
  std::shared_ptr<ResidualBlock> clone_block() const override;
  torch::Tensor join(torch::Tensor branch, const torch::Tensor& shortcut) override;
  std::vector<std::string> conv_names() const override { return {"conv1", "conv2", "conv3"}; }
  std::vector<std::string> downsample_names() const override;

 private:
  int64_t in_, planes_, stride_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

class ResNet : public VisionModel, public BlockTrunk {
 public:
  explicit ResNet(const ModelConfig& config);
  torch::Tensor forward(torch::Tensor x) override { return head(features(x)); }
  torch::Tensor features(torch::Tensor x) override;
  torch::Tensor head(torch::Tensor features) override { return fc_->forward(features); }
  int64_t feature_dim() const override { return feature_dim_; }
  std::vector<TunableUnit> units(UnitLevel level) const override;
  std::string head_prefix() const override { return "fc"; }
  std::string adapter_pattern() const override { return "layer[0-9]+\\..*"; }  // convs of the residual stages
  void replace_head(int64_t num_classes) override;
  int64_t piece_count() const override { return static_cast<int64_t>(blocks_.size()) + 1; }
  torch::Tensor run_pieces(torch::Tensor x, int64_t begin, int64_t end) override;
  torch::Tensor trunk_end(torch::Tensor x) override { return pool(x); }
  bool in_piece(const std::string& name, int64_t piece) const override;

  // The pieces of features(), for methods that route blocks themselves (SpotTune):
  // features(x) == pool(run every block in order on stem(x)).
  torch::Tensor stem(torch::Tensor x) override;
  torch::Tensor pool(torch::Tensor x) override;
  const std::vector<std::shared_ptr<ResidualBlock>>& blocks() const override { return blocks_; }
  const std::vector<std::string>& block_names() const override { return block_names_; }  // "layer1.0", ...

 private:
  bool resnet26_ = false;
  bool small_stem_ = false;
  int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1_{nullptr};
  BatchNorm2d bn1_{nullptr};
  BatchNorm2d final_bn_{nullptr};  // ResNet-26 only: BN -> ReLU before pooling
  torch::nn::Linear fc_{nullptr};
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
  std::vector<std::string> block_names_;
  std::vector<int64_t> stage_of_block_;  // 1-based stage index per block
};

}  // namespace aft::models
