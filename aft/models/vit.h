// Vision Transformer with torchvision's vit_b_16 parameter names, initialisation and maths
// (pre-norm blocks, LayerNorm eps 1e-6, exact GELU, class-token pooling). Attention is written
// out with matmul/softmax so it behaves the same on LibTorch 1.13 and 2.x.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <string>
#include <vector>

#include "aft/models/model.h"

namespace aft::models {

struct VitShape {
  int64_t patch = 16;
  int64_t dim = 768;
  int64_t heads = 12;
  int64_t layers = 12;
  int64_t mlp_dim = 3072;
};

// Parses vit_{ti,s,b}_P; returns false for names that are not ViTs.
bool parse_vit_arch(const std::string& arch, VitShape& shape);

// Attention over [N, heads, L, head_dim] queries, keys and values, scaled by 1/sqrt(head_dim).
// attention() is LibTorch's fused kernel where it has one (AFT_TORCH_HAS_FUSED_ATTENTION) and
// attention_unfused() otherwise; the unfused form stays as the reference tests compare with.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
torch::Tensor attention_unfused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
bool fused_attention_available();

// torch.nn.MultiheadAttention's parameter layout (packed in_proj, out_proj), self-attention only.
class SelfAttention : public torch::nn::Module {
 public:
  SelfAttention(int64_t dim, int64_t heads);
  torch::Tensor forward(torch::Tensor x);  // [N, L, D] -> [N, L, D]
  // The tensor forward() multiplies by; adapter methods (methods/adapters.h) put an adapted
  // weight here while the registered parameter keeps the frozen base.
  torch::Tensor& in_proj_weight() { return in_proj_weight_; }

 private:
  int64_t heads_;
  torch::Tensor in_proj_weight_, in_proj_bias_;
  torch::nn::Linear out_proj_{nullptr};
};

class EncoderBlock : public torch::nn::Module {
 public:
  // drop_path: in training, each residual branch is skipped for a sample with this probability
  // (and scaled by 1 / (1 - rate) otherwise); inert in eval mode.
  EncoderBlock(int64_t dim, int64_t heads, int64_t mlp_dim, double drop_rate = 0);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::Tensor drop_path(const torch::Tensor& branch) const;
  double drop_path_ = 0;
  torch::nn::LayerNorm ln_1_{nullptr}, ln_2_{nullptr};
  std::shared_ptr<SelfAttention> self_attention_;
  torch::nn::Sequential mlp_{nullptr};  // Linear, GELU, Dropout, Linear, Dropout (names 0..4)
};

class VisionTransformer : public VisionModel {
 public:
  explicit VisionTransformer(const ModelConfig& config);
  torch::Tensor forward(torch::Tensor x) override { return head(features(x)); }
  torch::Tensor features(torch::Tensor x) override;  // the class token after the final norm
  torch::Tensor head(torch::Tensor features) override { return head_->forward(features); }
  int64_t feature_dim() const override { return shape_.dim; }
  std::vector<TunableUnit> units(UnitLevel level) const override;
  std::string head_prefix() const override { return "heads.head"; }
  std::string adapter_pattern() const override { return "encoder\\.layers\\..*"; }  // attention and MLP
  void replace_head(int64_t num_classes) override;
  int64_t piece_count() const override { return static_cast<int64_t>(layers_.size()) + 1; }
  torch::Tensor run_pieces(torch::Tensor x, int64_t begin, int64_t end) override;
  torch::Tensor trunk_end(torch::Tensor x) override { return ln_->forward(x).select(1, 0); }
  bool in_piece(const std::string& name, int64_t piece) const override;
  const VitShape& shape() const { return shape_; }

 private:
  VitShape shape_;
  torch::nn::Conv2d conv_proj_{nullptr};
  torch::Tensor class_token_, pos_embedding_;
  std::vector<std::shared_ptr<EncoderBlock>> layers_;
  torch::nn::LayerNorm ln_{nullptr};
  std::shared_ptr<torch::nn::Module> heads_;
  torch::nn::Linear head_{nullptr};
};

}  // namespace aft::models
