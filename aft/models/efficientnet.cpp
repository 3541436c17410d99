#include "aft/models/efficientnet.h"

#include <torch/nn/functional/padding.h>
#include <torch/nn/init.h>

#include <cmath>

#include "aft/core/error.h"
#include "aft/models/units.h"

namespace aft::models {
namespace {

// EfficientNet-B0's block layout, which the Lite family keeps (docs/efficientnet.md).
const std::vector<LiteStage>& base_stages() {
  static const std::vector<LiteStage> stages = {
      {1, 3, 1, 1, 16}, {2, 3, 2, 6, 24}, {2, 5, 2, 6, 40}, {3, 3, 2, 6, 80},
      {3, 5, 1, 6, 112}, {4, 5, 2, 6, 192}, {1, 3, 1, 6, 320},
  };
  return stages;
}

// Width scaling to a multiple of 8, never more than 10% below the scaled width.
int64_t round_channels(int64_t channels, double mult) {
  if (mult == 1.0) return channels;
  const double scaled = static_cast<double>(channels) * mult;
  int64_t rounded = std::max<int64_t>(8, static_cast<int64_t>(scaled + 4) / 8 * 8);
  if (static_cast<double>(rounded) < 0.9 * scaled) rounded += 8;
  return rounded;
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  // Stride 1 with an odd kernel is symmetric "same" padding, set statically; other strides
  // are padded per input in forward (pad_same).
  const int64_t padding = stride == 1 ? (kernel - 1) / 2 : 0;
  torch::nn::Conv2d conv(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).groups(groups).bias(false));
  // The reference initialisation: N(0, sqrt(2 / fan_out)), fan_out = k*k*out/groups.
  torch::NoGradGuard no_grad;
  const double fan_out = static_cast<double>(kernel * kernel * out / groups);
  conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out));
  return conv;
}

BatchNorm2d make_bn(int64_t channels) { return BatchNorm2d(torch::nn::BatchNormOptions(channels).eps(1e-3)); }

torch::Tensor relu6_(torch::Tensor x) { return torch::hardtanh_(x, 0.0, 6.0); }

}  // namespace

torch::Tensor pad_same(const torch::Tensor& x, int64_t kernel, int64_t stride) {
  if (stride == 1) return x;  // the conv's static padding covers it
  auto total = [&](int64_t n) {
    const int64_t out = (n + stride - 1) / stride;
    return std::max<int64_t>((out - 1) * stride + kernel - n, 0);
  };
  const int64_t ph = total(x.size(-2)), pw = total(x.size(-1));
  if (ph == 0 && pw == 0) return x;
  return torch::constant_pad_nd(x, {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}, 0);
}

bool parse_lite_arch(const std::string& arch, LiteShape& shape) {
  struct Variant {
    const char* name;
    double width, depth, dropout;
    int64_t size;
  };
  static const Variant variants[] = {
      {"efficientnet_lite0", 1.0, 1.0, 0.2, 224}, {"efficientnet_lite1", 1.0, 1.1, 0.2, 240},
      {"efficientnet_lite2", 1.1, 1.2, 0.3, 260}, {"efficientnet_lite3", 1.2, 1.4, 0.3, 280},
      {"efficientnet_lite4", 1.4, 1.8, 0.3, 300},
  };
  for (const auto& v : variants) {
    if (arch != v.name) continue;
    shape = LiteShape{v.width, v.depth, v.dropout, v.size, {}};
    const auto& base = base_stages();
    for (size_t s = 0; s < base.size(); ++s) {
      LiteStage st = base[s];
      // The Lite variants keep the first and last stages at one block each.
      if (s != 0 && s + 1 != base.size()) {
        st.repeats = static_cast<int64_t>(std::ceil(static_cast<double>(st.repeats) * v.depth));
      }
      st.out = round_channels(st.out, v.width);
      shape.stages.push_back(st);
    }
    return true;
  }
  return false;
}

// ---- MBConvBlock ----

MBConvBlock::MBConvBlock(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t expand, double drop_path)
    : in_(in), out_(out), kernel_(kernel), stride_(stride), expand_(expand), drop_path_(drop_path),
      skip_(stride == 1 && in == out) {
  const int64_t mid = in * expand;
  if (expand == 1) {
    conv_dw_ = register_module("conv_dw", make_conv(in, in, kernel, stride, in));
    bn_dw_ = register_module("bn1", make_bn(in));
    conv_project_ = register_module("conv_pw", make_conv(in, out, 1, 1, 1));
    bn_project_ = register_module("bn2", make_bn(out));
  } else {
    conv_expand_ = register_module("conv_pw", make_conv(in, mid, 1, 1, 1));
    bn_expand_ = register_module("bn1", make_bn(mid));
    conv_dw_ = register_module("conv_dw", make_conv(mid, mid, kernel, stride, mid));
    bn_dw_ = register_module("bn2", make_bn(mid));
    conv_project_ = register_module("conv_pwl", make_conv(mid, out, 1, 1, 1));
    bn_project_ = register_module("bn3", make_bn(out));
  }
}

torch::Tensor MBConvBlock::branch(torch::Tensor x) {
  if (expand_ != 1) x = relu6_(bn_expand_->forward(conv_expand_->forward(x)));
  x = relu6_(bn_dw_->forward(conv_dw_->forward(pad_same(x, kernel_, stride_))));
  return bn_project_->forward(conv_project_->forward(x));
}

torch::Tensor MBConvBlock::shortcut(torch::Tensor x) { return skip_ ? x : torch::Tensor(); }

torch::Tensor MBConvBlock::join(torch::Tensor branch, const torch::Tensor& shortcut) {
  if (!shortcut.defined()) return branch;
  if (is_training() && drop_path_ > 0) {
    // Stochastic depth: the whole branch of an image is dropped with probability p, the
    // survivors scaled by 1/(1-p).
    const double keep = 1.0 - drop_path_;
    auto mask = torch::empty({branch.size(0), 1, 1, 1}, branch.options()).bernoulli_(keep).div_(keep);
    branch = branch * mask;
  }
  branch += shortcut;
  return branch;
}

std::shared_ptr<ResidualBlock> MBConvBlock::clone_block() const {
  auto copy = std::make_shared<MBConvBlock>(in_, out_, kernel_, stride_, expand_, drop_path_);
  copy_module_state(*this, *copy);
  copy->train(is_training());
  return copy;
}

std::vector<std::string> MBConvBlock::conv_names() const {
  if (expand_ == 1) return {"conv_dw", "conv_pw"};
  return {"conv_pw", "conv_dw", "conv_pwl"};
}

// ---- EfficientNetLite ----

EfficientNetLite::EfficientNetLite(const ModelConfig& config) : VisionModel(config) {
  check(parse_lite_arch(config.arch, shape_), "unknown EfficientNet-Lite architecture '", config.arch,
        "' (valid: efficientnet_lite0 .. efficientnet_lite4)");
  check(config.width == 1.0, config.arch, ": --width ", config.width,
        " does not apply (the Lite variants fix their widths; lite1..lite4 are the larger ones)");
  check(config.stem == "imagenet", config.arch, ": --stem ", config.stem, " does not apply (ResNets only)");
  check(config.num_classes >= 1, "num_classes must be at least 1, got ", config.num_classes);
  check(config.drop_path >= 0 && config.drop_path < 1, "drop_path must be in [0, 1), got ", config.drop_path);
  conv_stem_ = register_module("conv_stem", make_conv(3, kStemChannels, 3, 2, 1));
  bn1_ = register_module("bn1", make_bn(kStemChannels));
  auto stages = register_module("blocks", torch::nn::ModuleList());
  int64_t total = 0;
  for (const auto& st : shape_.stages) total += st.repeats;
  int64_t in = kStemChannels, index = 0;
  for (size_t s = 0; s < shape_.stages.size(); ++s) {
    const auto& st = shape_.stages[s];
    auto list = torch::nn::ModuleList();
    for (int64_t j = 0; j < st.repeats; ++j, ++index) {
      const double rate = config.drop_path * static_cast<double>(index) / static_cast<double>(total);
      auto block = std::make_shared<MBConvBlock>(in, st.out, st.kernel, j == 0 ? st.stride : 1, st.expand, rate);
      list->push_back(block);
      blocks_.push_back(block);
      block_names_.push_back("blocks." + std::to_string(s) + "." + std::to_string(j));
      stage_of_block_.push_back(static_cast<int64_t>(s));
      in = st.out;
    }
    stages->push_back(list);
  }
  conv_head_ = register_module("conv_head", make_conv(in, kHeadChannels, 1, 1, 1));
  bn2_ = register_module("bn2", make_bn(kHeadChannels));
  classifier_ = register_module("classifier", torch::nn::Linear(kHeadChannels, config.num_classes));
}

torch::Tensor EfficientNetLite::stem(torch::Tensor x) {
  return relu6_(bn1_->forward(conv_stem_->forward(pad_same(x, 3, 2))));
}

torch::Tensor EfficientNetLite::head_conv(torch::Tensor x) { return relu6_(bn2_->forward(conv_head_->forward(x))); }

torch::Tensor EfficientNetLite::trunk_end(torch::Tensor x) { return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); }

torch::Tensor EfficientNetLite::pool(torch::Tensor x) { return trunk_end(head_conv(x)); }

torch::Tensor EfficientNetLite::features(torch::Tensor x) { return trunk_end(run_pieces(x, 0, piece_count())); }

torch::Tensor EfficientNetLite::head(torch::Tensor features) {
  if (is_training() && shape_.dropout > 0) features = torch::dropout(features, shape_.dropout, true);
  return classifier_->forward(features);
}

torch::Tensor EfficientNetLite::run_pieces(torch::Tensor x, int64_t begin, int64_t end) {
  check(0 <= begin && begin <= end && end <= piece_count(), config_.arch, ": pieces [", begin, ", ", end, ") of ",
        piece_count());
  const auto blocks = static_cast<int64_t>(blocks_.size());
  for (int64_t i = begin; i < end; ++i) {
    if (i == 0) {
      x = stem(x);
    } else if (i <= blocks) {
      x = blocks_[static_cast<size_t>(i - 1)]->forward(x);
    } else {
      x = head_conv(x);
    }
  }
  return x;
}

bool EfficientNetLite::in_piece(const std::string& name, int64_t piece) const {
  const auto under = [&](const std::string& prefix) { return name.rfind(prefix + ".", 0) == 0; };
  const auto blocks = static_cast<int64_t>(blocks_.size());
  if (piece == 0) return under("conv_stem") || under("bn1");
  if (piece == blocks + 1) return under("conv_head") || under("bn2");
  return piece > 0 && piece <= blocks && under(block_names_[static_cast<size_t>(piece - 1)]);
}

void EfficientNetLite::replace_head(int64_t num_classes) {
  check(num_classes >= 1, "num_classes must be at least 1, got ", num_classes);
  auto fresh = torch::nn::Linear(kHeadChannels, num_classes);
  fresh->to(classifier_->weight.device(), classifier_->weight.scalar_type());
  classifier_ = replace_module("classifier", fresh);
  config_.num_classes = num_classes;
}

std::vector<TunableUnit> EfficientNetLite::units(UnitLevel level) const {
  std::vector<TunableUnit> units;
  const auto stage_name = [&](size_t b) { return "blocks." + std::to_string(stage_of_block_[b]); };
  const std::string last_stage = stage_name(blocks_.size() - 1);
  const auto with = [&](std::vector<std::string> prefixes) {
    std::vector<std::string> params;
    for (const auto& prefix : prefixes) {
      for (const auto& p : params_with_prefix(*this, prefix)) params.push_back(p);
    }
    return params;
  };
  if (level == UnitLevel::layer) {
    // As with ResNet's stem, the stem conv is filed under the first block and stage.
    units.push_back({"conv_stem", "", block_names_[0], stage_name(0), with({"conv_stem", "bn1"})});
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const auto convs = blocks_[b]->conv_names();
      const std::string prefix = block_names_[b] + ".";
      for (size_t k = 0; k < convs.size(); ++k) {
        units.push_back({prefix + convs[k], "", block_names_[b], stage_name(b),
                         with({prefix + convs[k], prefix + blocks_[b]->norm_of(k)})});
      }
    }
    units.push_back({"conv_head", "", "conv_head", last_stage, with({"conv_head", "bn2"})});
    assign_shape_groups(units, *this);
  } else {
    for (size_t b = 0; b < blocks_.size(); ++b) {
      units.push_back({block_names_[b], stage_name(b), block_names_[b], stage_name(b), with({block_names_[b]})});
    }
    // The 1x1 head conv (320 -> 1280 channels, a tenth of Lite0's weights) is a block-level
    // unit of its own, so partial strategies can tune it without the stem.
    units.push_back({"conv_head", "conv_head", "conv_head", last_stage, with({"conv_head", "bn2"})});
  }
  return units;
}

}  // namespace aft::models
