#include "aft/models/vit.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>

#include <cmath>
#include <regex>

#include "aft/core/error.h"
#include "aft/core/torch_compat.h"
#include "aft/models/units.h"

namespace aft::models {
namespace {

// nn.init.trunc_normal_ (absolute bounds [-2, 2]) is missing from LibTorch 1.13's C++ API;
// redrawing the rare out-of-range values gives the same distribution.
void trunc_normal_(torch::Tensor t, double std) {
  torch::NoGradGuard no_grad;
  t.normal_(0.0, std);
  for (int i = 0; i < 100; ++i) {
    auto outside = t.abs() > 2.0;
    if (!outside.any().item<bool>()) return;
    t.masked_scatter_(outside, torch::randn({outside.sum().item<int64_t>()}, t.options()) * std);
  }
  t.clamp_(-2.0, 2.0);
}

torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6));
}

const std::string kLayerPrefix = "encoder.layers.encoder_layer_";

}  // namespace

bool parse_vit_arch(const std::string& arch, VitShape& shape) {
  static const std::regex pattern("vit_(ti|s|b)_([0-9]{1,4})");
  std::smatch m;
  if (!std::regex_match(arch, m, pattern)) return false;
  const std::string size = m[1];
  if (size == "ti") shape = {0, 192, 3, 12, 768};
  if (size == "s") shape = {0, 384, 6, 12, 1536};
  if (size == "b") shape = {0, 768, 12, 12, 3072};
  shape.patch = std::stoll(m[2]);
  return shape.patch >= 1;
}

// ---- attention ----

torch::Tensor attention_unfused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const auto scaled = q / std::sqrt(static_cast<double>(q.size(-1)));
  return torch::matmul(torch::softmax(torch::matmul(scaled, k.transpose(-2, -1)), -1), v);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
#if AFT_TORCH_HAS_FUSED_ATTENTION
  return at::scaled_dot_product_attention(q, k, v);
#else
  return attention_unfused(q, k, v);
#endif
}

bool fused_attention_available() { return AFT_TORCH_HAS_FUSED_ATTENTION; }

// ---- SelfAttention ----

SelfAttention::SelfAttention(int64_t dim, int64_t heads) : heads_(heads) {
  check(dim % heads == 0, "attention width ", dim, " is not divisible by ", heads, " heads");
  in_proj_weight_ = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}));
  in_proj_bias_ = register_parameter("in_proj_bias", torch::zeros({3 * dim}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(dim, dim));
  // nn.MultiheadAttention._reset_parameters: xavier on the packed projection, zero biases;
  // out_proj keeps Linear's default weight init.
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight_);
  out_proj_->bias.zero_();
}

torch::Tensor SelfAttention::forward(torch::Tensor x) {
  const int64_t n = x.size(0), len = x.size(1), dim = x.size(2), head_dim = dim / heads_;
  auto qkv = torch::linear(x, in_proj_weight_, in_proj_bias_).chunk(3, -1);
  const auto split = [&](const torch::Tensor& t) { return t.reshape({n, len, heads_, head_dim}).transpose(1, 2); };
  auto out = attention(split(qkv[0]), split(qkv[1]), split(qkv[2])).transpose(1, 2).reshape({n, len, dim});
  return out_proj_->forward(out);
}

// ---- EncoderBlock ----

EncoderBlock::EncoderBlock(int64_t dim, int64_t heads, int64_t mlp_dim, double drop_rate) : drop_path_(drop_rate) {
  check(drop_rate >= 0 && drop_rate <= 1, "drop-path rate ", drop_rate, ": must be in [0, 1]");
  ln_1_ = register_module("ln_1", layer_norm(dim));
  self_attention_ = register_module("self_attention", std::make_shared<SelfAttention>(dim, heads));
  ln_2_ = register_module("ln_2", layer_norm(dim));
  torch::nn::Linear fc1(dim, mlp_dim), fc2(mlp_dim, dim);
  {
    // torchvision's MLPBlock: xavier_uniform weights, near-zero normal biases.
    torch::NoGradGuard no_grad;
    for (auto& fc : {fc1, fc2}) {
      torch::nn::init::xavier_uniform_(fc->weight);
      fc->bias.normal_(0.0, 1e-6);
    }
  }
  // Dropout modules (p = 0) keep torchvision's indices, so the linears are mlp.0 and mlp.3.
  mlp_ = register_module("mlp", torch::nn::Sequential(fc1, torch::nn::GELU(), torch::nn::Dropout(0.0), fc2,
                                                      torch::nn::Dropout(0.0)));
}

torch::Tensor EncoderBlock::drop_path(const torch::Tensor& branch) const {
  if (!is_training() || drop_path_ <= 0) return branch;
  const double keep = 1.0 - drop_path_;
  if (keep <= 0) return branch * 0;
  const auto mask = torch::empty({branch.size(0), 1, 1}, branch.options()).bernoulli_(keep);
  return branch * mask / keep;
}

torch::Tensor EncoderBlock::forward(torch::Tensor x) {
  x = x + drop_path(self_attention_->forward(ln_1_->forward(x)));
  return x + drop_path(mlp_->forward(ln_2_->forward(x)));
}

// ---- VisionTransformer ----

VisionTransformer::VisionTransformer(const ModelConfig& config) : VisionModel(config) {
  check(parse_vit_arch(config.arch, shape_), "unknown ViT architecture '", config.arch,
        "' (valid: vit_ti_P, vit_s_P, vit_b_P with P the patch size)");
  check(config.num_classes >= 1, "num_classes must be at least 1, got ", config.num_classes);
  check(config.image_size >= shape_.patch && config.image_size % shape_.patch == 0, config.arch,
        ": image size ", config.image_size, " is not a multiple of the patch size ", shape_.patch);
  const int64_t dim = shape_.dim;
  const int64_t grid = config.image_size / shape_.patch;

  conv_proj_ = register_module(
      "conv_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, dim, shape_.patch).stride(shape_.patch)));
  class_token_ = register_parameter("class_token", torch::zeros({1, 1, dim}));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  pos_embedding_ = encoder->register_parameter("pos_embedding", torch::empty({1, grid * grid + 1, dim}));
  auto layers = encoder->register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < shape_.layers; ++i) {
    // Stochastic depth rises linearly over the blocks, from 0 to --drop-path (as DeiT and timm).
    const double rate = shape_.layers > 1 ? config.drop_path * static_cast<double>(i) / (shape_.layers - 1) : config.drop_path;
    layers_.push_back(layers->register_module("encoder_layer_" + std::to_string(i),
                                              std::make_shared<EncoderBlock>(dim, shape_.heads, shape_.mlp_dim, rate)));
  }
  ln_ = encoder->register_module("ln", layer_norm(dim));
  heads_ = register_module("heads", std::make_shared<torch::nn::Module>());
  head_ = heads_->register_module("head", torch::nn::Linear(dim, config.num_classes));

  torch::NoGradGuard no_grad;
  const int64_t fan_in = 3 * shape_.patch * shape_.patch;
  trunc_normal_(conv_proj_->weight, std::sqrt(1.0 / static_cast<double>(fan_in)));
  conv_proj_->bias.zero_();
  pos_embedding_.normal_(0.0, 0.02);
  // Without a representation layer torchvision zero-initialises the head.
  head_->weight.zero_();
  head_->bias.zero_();
}

torch::Tensor VisionTransformer::features(torch::Tensor x) {
  check(x.dim() == 4 && x.size(2) == config_.image_size && x.size(3) == config_.image_size, config_.arch,
        ": expected input [N, 3, ", config_.image_size, ", ", config_.image_size, "], got ", x.sizes());
  return trunk_end(run_pieces(x, 0, piece_count()));
}

torch::Tensor VisionTransformer::run_pieces(torch::Tensor x, int64_t begin, int64_t end) {
  check(0 <= begin && begin <= end && end <= piece_count(), config_.arch, ": pieces [", begin, ", ", end, ") of ",
        piece_count());
  for (int64_t i = begin; i < end; ++i) {
    if (i == 0) {
      const int64_t n = x.size(0);
      x = conv_proj_->forward(x).flatten(2).transpose(1, 2);  // [N, H*W, D]
      x = torch::cat({class_token_.expand({n, -1, -1}), x}, 1) + pos_embedding_;
    } else {
      x = layers_[static_cast<size_t>(i - 1)]->forward(x);
    }
  }
  return x;
}

bool VisionTransformer::in_piece(const std::string& name, int64_t piece) const {
  if (piece == 0) return name.rfind("conv_proj.", 0) == 0 || name == "class_token" || name == "encoder.pos_embedding";
  return piece > 0 && piece < piece_count() &&
         name.rfind("encoder.layers.encoder_layer_" + std::to_string(piece - 1) + ".", 0) == 0;
}

void VisionTransformer::replace_head(int64_t num_classes) {
  check(num_classes >= 1, "num_classes must be at least 1, got ", num_classes);
  torch::nn::Linear fresh(shape_.dim, num_classes);
  {
    torch::NoGradGuard no_grad;
    fresh->weight.zero_();
    fresh->bias.zero_();
  }
  fresh->to(head_->weight.device(), head_->weight.scalar_type());
  head_ = heads_->replace_module("head", fresh);
  config_.num_classes = num_classes;
}

std::vector<TunableUnit> VisionTransformer::units(UnitLevel level) const {
  std::vector<TunableUnit> units;
  const auto params = [&](std::initializer_list<std::string> prefixes) {
    std::vector<std::string> out;
    for (const auto& prefix : prefixes) {
      for (const auto& p : params_with_prefix(*this, prefix)) out.push_back(p);
    }
    return out;
  };
  const std::string first_block = kLayerPrefix + "0";
  if (level == UnitLevel::layer) {
    units.push_back({"embedding", "", first_block, "encoder",
                     params({"conv_proj", "class_token", "encoder.pos_embedding"})});
  }
  for (int64_t i = 0; i < shape_.layers; ++i) {
    const std::string b = kLayerPrefix + std::to_string(i);
    if (level == UnitLevel::block) {
      // partial.md: patch/pos embedding, class token and the final norm are in no unit.
      units.push_back({b + ".attn", "attn", b, "encoder", params({b + ".ln_1", b + ".self_attention"})});
      units.push_back({b + ".ffn", "ffn", b, "encoder", params({b + ".ln_2", b + ".mlp"})});
    } else {
      units.push_back({b + ".qkv", "", b, "encoder",
                       params({b + ".ln_1", b + ".self_attention.in_proj_weight", b + ".self_attention.in_proj_bias"})});
      units.push_back({b + ".proj", "", b, "encoder", params({b + ".self_attention.out_proj"})});
      units.push_back({b + ".fc1", "", b, "encoder", params({b + ".ln_2", b + ".mlp.0"})});
      units.push_back({b + ".fc2", "", b, "encoder", params({b + ".mlp.3"})});
    }
  }
  if (level == UnitLevel::layer) {
    for (const auto& p : params_with_prefix(*this, "encoder.ln")) units.back().params.push_back(p);
    assign_shape_groups(units, *this);
  }
  return units;
}

}  // namespace aft::models
