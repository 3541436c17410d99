#include "aft/models/resnet.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>

#include <cmath>

#include "aft/core/error.h"
#include "aft/models/units.h"

namespace aft::models {
namespace {

// torchvision initialises every conv with kaiming_normal(fan_out, relu); done here so that
// blocks built later (clones, replacements) get the same scheme.
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  return conv;
}
torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) { return make_conv(in, out, 3, stride, 1); }
torch::nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride) { return make_conv(in, out, 1, stride, 0); }

torch::nn::Sequential make_downsample(torch::nn::Module& owner, int64_t in, int64_t out, int64_t stride) {
  torch::nn::Sequential seq(conv1x1(in, out, stride), BatchNorm2d(out));
  return owner.register_module("downsample", seq);
}

struct Layout {
  bool bottleneck = false;
  bool resnet26 = false;
  std::vector<int64_t> depths;
};

Layout layout_of(const std::string& arch) {
  if (arch == "resnet18") return {false, false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, false, {3, 4, 6, 3}};
  if (arch == "resnet50") return {true, false, {3, 4, 6, 3}};
  if (arch == "resnet101") return {true, false, {3, 4, 23, 3}};
  if (arch == "resnet26") return {false, true, {4, 4, 4}};
  fail("unknown ResNet architecture '", arch, "' (valid: resnet18, resnet26, resnet34, resnet50, resnet101)");
}

}  // namespace

// ---- BasicBlock ----

BasicBlock::BasicBlock(int64_t in, int64_t planes, int64_t stride, Shortcut kind)
    : in_(in), planes_(planes), stride_(stride), kind_(kind) {
  conv1_ = register_module("conv1", conv3x3(in, planes, stride));
  bn1_ = register_module("bn1", BatchNorm2d(planes));
  conv2_ = register_module("conv2", conv3x3(planes, planes, 1));
  bn2_ = register_module("bn2", BatchNorm2d(planes));
  if (kind == Shortcut::projection && (stride != 1 || in != planes)) {
    downsample_ = make_downsample(*this, in, planes, stride);
  }
}

torch::Tensor BasicBlock::branch(torch::Tensor x) {
  x = bn1_->forward(conv1_->forward(x));
  x = torch::relu_(x);  // in place on the norm's fresh output, as torchvision
  return bn2_->forward(conv2_->forward(x));
}

torch::Tensor BasicBlock::shortcut(torch::Tensor x) {
  if (!downsample_.is_empty()) return downsample_->forward(x);
  if (kind_ == Shortcut::zero_pad) {
    // SpotTune's DownsampleB: average-pool to the new resolution, then append zero channels.
    if (stride_ != 1) x = torch::avg_pool2d(x, {stride_, stride_});
    if (planes_ > in_) {
      auto sizes = x.sizes().vec();
      sizes[1] = planes_ - in_;
      x = torch::cat({x, torch::zeros(sizes, x.options())}, 1);
    }
  }
  return x;
}

// The addition and ReLU run in place on the branch's fresh output, as torchvision's: on CPU
// every new large activation is a fresh mmap and page faults (bench/step_bench.sh, §1).
torch::Tensor BasicBlock::join(torch::Tensor branch, const torch::Tensor& shortcut) {
  branch += shortcut;
  return torch::relu_(branch);
}

std::shared_ptr<ResidualBlock> BasicBlock::clone_block() const {
  auto copy = std::make_shared<BasicBlock>(in_, planes_, stride_, kind_);
  copy_module_state(*this, *copy);
  copy->train(is_training());
  return copy;
}

std::vector<std::string> BasicBlock::downsample_names() const {
  if (downsample_.is_empty()) return {};
  return {"downsample.0", "downsample.1"};
}

// ---- Bottleneck ----

Bottleneck::Bottleneck(int64_t in, int64_t planes, int64_t stride) : in_(in), planes_(planes), stride_(stride) {
  const int64_t out = planes * kExpansion;
  conv1_ = register_module("conv1", conv1x1(in, planes, 1));
  bn1_ = register_module("bn1", BatchNorm2d(planes));
  conv2_ = register_module("conv2", conv3x3(planes, planes, stride));
  bn2_ = register_module("bn2", BatchNorm2d(planes));
  conv3_ = register_module("conv3", conv1x1(planes, out, 1));
  bn3_ = register_module("bn3", BatchNorm2d(out));
  if (stride != 1 || in != out) downsample_ = make_downsample(*this, in, out, stride);
}

torch::Tensor Bottleneck::branch(torch::Tensor x) {
  x = bn1_->forward(conv1_->forward(x));
  x = torch::relu_(x);
  x = bn2_->forward(conv2_->forward(x));
  x = torch::relu_(x);
  return bn3_->forward(conv3_->forward(x));
}

torch::Tensor Bottleneck::shortcut(torch::Tensor x) {
  return downsample_.is_empty() ? x : downsample_->forward(x);
}

torch::Tensor Bottleneck::join(torch::Tensor branch, const torch::Tensor& shortcut) {
  branch += shortcut;
  return torch::relu_(branch);
}

std::shared_ptr<ResidualBlock> Bottleneck::clone_block() const {
  auto copy = std::make_shared<Bottleneck>(in_, planes_, stride_);
  copy_module_state(*this, *copy);
  copy->train(is_training());
  return copy;
}

std::vector<std::string> Bottleneck::downsample_names() const {
  if (downsample_.is_empty()) return {};
  return {"downsample.0", "downsample.1"};
}

// ---- ResNet ----

ResNet::ResNet(const ModelConfig& config) : VisionModel(config) {
  const Layout layout = layout_of(config.arch);
  check(config.stem == "imagenet" || config.stem == "small", "unknown stem '", config.stem,
        "' (valid: imagenet, small)");
  check(config.width > 0, "width must be positive, got ", config.width);
  check(config.num_classes >= 1, "num_classes must be at least 1, got ", config.num_classes);
  resnet26_ = layout.resnet26;
  small_stem_ = config.stem == "small";
  const int64_t base = std::llround(64 * config.width);
  check(base >= 1, "width ", config.width, " leaves no channels");

  int64_t in = 0;
  if (resnet26_) {
    // The stem option does not apply: ResNet-26 always has its 3x3/1 stem (made for 64-72 px).
    in = std::max<int64_t>(1, std::llround(32 * config.width));
    conv1_ = register_module("conv1", conv3x3(3, in, 1));
  } else {
    in = base;
    conv1_ = register_module("conv1", small_stem_ ? conv3x3(3, in, 1) : make_conv(3, in, 7, 2, 3));
  }
  bn1_ = register_module("bn1", BatchNorm2d(in));

  for (size_t s = 0; s < layout.depths.size(); ++s) {
    const int64_t planes = base << s;
    const int64_t first_stride = (s == 0 && !resnet26_) ? 1 : 2;
    const std::string stage = "layer" + std::to_string(s + 1);
    auto list = register_module(stage, torch::nn::ModuleList());
    for (int64_t j = 0; j < layout.depths[s]; ++j) {
      const int64_t stride = j == 0 ? first_stride : 1;
      std::shared_ptr<ResidualBlock> block;
      if (layout.bottleneck) {
        block = std::make_shared<Bottleneck>(in, planes, stride);
        in = planes * Bottleneck::kExpansion;
      } else {
        auto kind = resnet26_ ? BasicBlock::Shortcut::zero_pad : BasicBlock::Shortcut::projection;
        block = std::make_shared<BasicBlock>(in, planes, stride, kind);
        in = planes;
      }
      list->push_back(block);
      blocks_.push_back(block);
      block_names_.push_back(stage + "." + std::to_string(j));
      stage_of_block_.push_back(static_cast<int64_t>(s) + 1);
    }
  }
  feature_dim_ = in;
  if (resnet26_) final_bn_ = register_module("final_bn", BatchNorm2d(in));
  fc_ = register_module("fc", torch::nn::Linear(in, config.num_classes));
}

torch::Tensor ResNet::stem(torch::Tensor x) {
  x = bn1_->forward(conv1_->forward(x));
  if (resnet26_) return x;  // SpotTune's stem has no ReLU
  x = torch::relu_(x);  // in place on the norm's output, as torchvision
  if (!small_stem_) x = torch::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  return x;
}

torch::Tensor ResNet::pool(torch::Tensor x) {
  if (resnet26_) {
    x = final_bn_->forward(x);
    x = torch::relu_(x);
  }
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

torch::Tensor ResNet::features(torch::Tensor x) { return pool(run_pieces(x, 0, piece_count())); }

torch::Tensor ResNet::run_pieces(torch::Tensor x, int64_t begin, int64_t end) {
  check(0 <= begin && begin <= end && end <= piece_count(), config_.arch, ": pieces [", begin, ", ", end, ") of ",
        piece_count());
  for (int64_t i = begin; i < end; ++i) x = i == 0 ? stem(x) : blocks_[static_cast<size_t>(i - 1)]->forward(x);
  return x;
}

bool ResNet::in_piece(const std::string& name, int64_t piece) const {
  const auto under = [&](const std::string& prefix) { return name.rfind(prefix + ".", 0) == 0; };
  if (piece == 0) return under("conv1") || under("bn1");
  return piece > 0 && piece < piece_count() && under(block_names_[static_cast<size_t>(piece - 1)]);
}

void ResNet::replace_head(int64_t num_classes) {
  check(num_classes >= 1, "num_classes must be at least 1, got ", num_classes);
  auto fresh = torch::nn::Linear(feature_dim_, num_classes);
  fresh->to(fc_->weight.device(), fc_->weight.scalar_type());
  fc_ = replace_module("fc", fresh);
  config_.num_classes = num_classes;
}

std::vector<TunableUnit> ResNet::units(UnitLevel level) const {
  std::vector<TunableUnit> units;
  const auto stage_name = [&](size_t b) { return "layer" + std::to_string(stage_of_block_[b]); };
  if (level == UnitLevel::layer) {
    // The stem is filed under the first block and stage so that coarsening layer units by
    // block or stage gives contribution.md's 49 -> 16 -> 4 dimensions on ResNet-50.
    TunableUnit stem_unit{"conv1", "", block_names_[0], stage_name(0), params_with_prefix(*this, "conv1")};
    for (const auto& p : params_with_prefix(*this, "bn1")) stem_unit.params.push_back(p);
    units.push_back(stem_unit);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const auto convs = blocks_[b]->conv_names();
      for (size_t k = 0; k < convs.size(); ++k) {
        const std::string prefix = block_names_[b] + ".";
        TunableUnit unit{prefix + convs[k], "", block_names_[b], stage_name(b), {}};
        std::vector<std::string> members = {convs[k], blocks_[b]->norm_of(k)};
        // The projection shortcut shares the ratio of the block's last conv (contribution.md).
        if (k + 1 == convs.size()) {
          for (const auto& d : blocks_[b]->downsample_names()) members.push_back(d);
        }
        for (const auto& m : members) {
          for (const auto& p : params_with_prefix(*this, prefix + m)) unit.params.push_back(p);
        }
        units.push_back(unit);
      }
    }
  } else {
    for (size_t b = 0; b < blocks_.size(); ++b) {
      units.push_back({block_names_[b], stage_name(b), block_names_[b], stage_name(b),
                       params_with_prefix(*this, block_names_[b])});
    }
  }
  if (resnet26_) {
    // ResNet-26's pre-pool BN normalises the last block's output for the head. It gets a unit
    // of its own (not frozen for good, as ViT's final norm is at block level) because its
    // statistics are tied to the target data; folding it into layer3.3 would break that
    // block's shape-homogeneity with the other layer3 blocks.
    units.push_back({"final_bn", "final_bn", block_names_.back(), stage_name(blocks_.size() - 1),
                     params_with_prefix(*this, "final_bn")});
  }
  if (level == UnitLevel::layer) assign_shape_groups(units, *this);
  return units;
}

}  // namespace aft::models
