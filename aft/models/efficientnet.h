// EfficientNet-Lite0..4 (docs/efficientnet.md) with timm's tf_efficientnet_lite* parameter
// names: TensorFlow "same" padding, ReLU6, no squeeze-excite, a stem (32 channels) and head
// (1280) that do not scale with width, batch-norm eps 1e-3. MBConv blocks derive from
// ResidualBlock, so methods that route blocks (SpotTune) take them as they take ResNet's.
#pragma once
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <vector>

#include "aft/models/batch_norm.h"
#include "aft/models/block_trunk.h"
#include "aft/models/model.h"

namespace aft::models {

// One row of an EfficientNet-Lite's layout after width and depth scaling.
struct LiteStage {
  int64_t repeats, kernel, stride, expand, out;
};
struct LiteShape {
  double width_mult = 1, depth_mult = 1, dropout = 0.2;
  int64_t native_size = 224;
  std::vector<LiteStage> stages;  // scaled
};
// False when `arch` is not efficientnet_lite0..4.
bool parse_lite_arch(const std::string& arch, LiteShape& shape);

// An inverted-residual block: [1x1 expansion conv, BN, ReLU6,] depthwise kxk conv (stride s),
// BN, ReLU6, 1x1 projection conv, BN; identity shortcut when stride is 1 and the width stays.
// Without expansion (the first stage) it is timm's depthwise-separable block: conv_dw, bn1,
// conv_pw, bn2; with it: conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3.
class MBConvBlock : public ResidualBlock {
 public:
  MBConvBlock(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t expand, double drop_path);
  torch::Tensor branch(torch::Tensor x) override;
  torch::Tensor shortcut(torch::Tensor x) override;
  torch::Tensor join(torch::Tensor branch, const torch::Tensor& shortcut) override;
  std::shared_ptr<ResidualBlock> clone_block() const override;
  std::vector<std::string> conv_names() const override;
  bool has_skip() const { return skip_; }

 private:
  int64_t in_, out_, kernel_, stride_, expand_;
  double drop_path_;
  bool skip_;
  torch::nn::Conv2d conv_expand_{nullptr}, conv_dw_{nullptr}, conv_project_{nullptr};
  BatchNorm2d bn_expand_{nullptr}, bn_dw_{nullptr}, bn_project_{nullptr};
};

class EfficientNetLite : public VisionModel, public BlockTrunk {
 public:
  explicit EfficientNetLite(const ModelConfig& config);
  torch::Tensor forward(torch::Tensor x) override { return head(features(x)); }
  torch::Tensor features(torch::Tensor x) override;
  // Dropout (the variant's rate, training only), then the classifier.
  torch::Tensor head(torch::Tensor features) override;
  int64_t feature_dim() const override { return kHeadChannels; }
  std::vector<TunableUnit> units(UnitLevel level) const override;
  std::string head_prefix() const override { return "classifier"; }
  // The 1x1 convolutions (expansions, projections, the head conv); depthwise convs are left out.
  std::string adapter_pattern() const override { return "blocks\\.[0-9]+\\.[0-9]+\\.conv_pwl?|conv_head"; }
  void replace_head(int64_t num_classes) override;
  // Pieces: the stem, each MBConv block, then the 1x1 head conv with its norm.
  int64_t piece_count() const override { return static_cast<int64_t>(blocks_.size()) + 2; }
  torch::Tensor run_pieces(torch::Tensor x, int64_t begin, int64_t end) override;
  torch::Tensor trunk_end(torch::Tensor x) override;
  bool in_piece(const std::string& name, int64_t piece) const override;

  torch::Tensor stem(torch::Tensor x) override;
  // The head conv, its norm and ReLU6, then global average pooling.
  torch::Tensor pool(torch::Tensor x) override;
  const std::vector<std::shared_ptr<ResidualBlock>>& blocks() const override { return blocks_; }
  const std::vector<std::string>& block_names() const override { return block_names_; }
  const LiteShape& shape() const { return shape_; }

  static constexpr int64_t kStemChannels = 32;
  static constexpr int64_t kHeadChannels = 1280;

 private:
  torch::Tensor head_conv(torch::Tensor x);

  LiteShape shape_;
  torch::nn::Conv2d conv_stem_{nullptr}, conv_head_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Linear classifier_{nullptr};
  std::vector<std::shared_ptr<ResidualBlock>> blocks_;
  std::vector<std::string> block_names_;  // "blocks.S.I"
  std::vector<int64_t> stage_of_block_;
};

// TensorFlow's "same" padding for a kxk convolution of stride s: total padding
// max((ceil(n/s) - 1) s + k - n, 0) per axis, the odd pixel at the bottom/right.
torch::Tensor pad_same(const torch::Tensor& x, int64_t kernel, int64_t stride);

}  // namespace aft::models
