#include "aft/methods/spottune_net.h"

#include <torch/nn/init.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "aft/core/error.h"

namespace aft::methods {

torch::Tensor gumbel_noise(const torch::Tensor& like) {
  // Always drawn and transformed in float32, then cast: in fp16 (autocast logits) 1e-20 is 0
  // and a draw of exactly 0 (1 in 2048 there) would give log(0), an infinite noise.
  const auto u = torch::rand(like.sizes(), like.options().dtype(torch::kFloat).requires_grad(false));
  return (-torch::log(-torch::log(u + 1e-20) + 1e-20)).to(like.scalar_type());
}

torch::Tensor gumbel_softmax_hard(const torch::Tensor& logits, const torch::Tensor& noise, double temperature) {
  const auto y = torch::softmax((logits + noise) / temperature, -1);
  const auto hard = torch::zeros_like(y).scatter_(-1, y.argmax(-1, true), 1.0);
  return (hard - y).detach() + y;
}

// ---- PolicyNet ----

PolicyNet::PolicyNet(int64_t num_blocks, double width) : num_blocks_(num_blocks) {
  check(num_blocks >= 1, "policy network: no blocks to route");
  check(width > 0, "policy network: width must be positive, got ", width);
  const auto channels = [&](int64_t c) { return std::max<int64_t>(1, std::llround(c * width)); };
  int64_t in = channels(32);
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, in, 3).padding(1).bias(false)));
  {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_normal_(conv1_->weight, 0.0, torch::kFanOut, torch::kReLU);
  }
  bn1_ = register_module("bn1", models::BatchNorm2d(in));
  const int64_t planes[] = {64, 128, 256};
  for (int s = 0; s < 3; ++s) {
    const int64_t out = channels(planes[s]);
    auto block = std::make_shared<models::BasicBlock>(in, out, 2, models::BasicBlock::Shortcut::zero_pad);
    blocks_.push_back(register_module("layer" + std::to_string(s + 1), block));
    in = out;
  }
  final_bn_ = register_module("final_bn", models::BatchNorm2d(in));
  fc_ = register_module("fc", torch::nn::Linear(in, 2 * num_blocks));
}

torch::Tensor PolicyNet::forward(torch::Tensor x) {
  x = bn1_->forward(conv1_->forward(x));  // no ReLU after the stem, as in the reference agent
  for (auto& block : blocks_) x = block->forward(x);
  x = torch::relu(final_bn_->forward(x));
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_->forward(x).view({-1, num_blocks_, 2});
}

// ---- SpotTuneNet ----

SpotTuneNet::SpotTuneNet(models::ModelPtr backbone, double policy_width) : backbone_(std::move(backbone)) {
  check(backbone_ != nullptr, "spottune: no backbone");
  trunk_ = dynamic_cast<models::BlockTrunk*>(backbone_.get());
  check(trunk_ != nullptr, "spottune: ", backbone_->config().arch, " has no residual blocks to route");
  register_module("backbone", backbone_);
  tuned_list_ = register_module("tuned", torch::nn::ModuleList());
  for (const auto& block : trunk_->blocks()) {
    frozen_.push_back(block);
    tuned_.push_back(block->clone_block());
    tuned_list_->push_back(tuned_.back());
    shared_shortcut_.push_back(block->downsample_names().empty());
  }
  policy_ = register_module("policy", std::make_shared<PolicyNet>(num_blocks(), policy_width));
}

torch::Tensor SpotTuneNet::run_copy(models::ResidualBlock& block, const torch::Tensor& x, const torch::Tensor& shortcut) {
  return block.join(block.branch(x), shortcut.defined() ? shortcut : block.shortcut(x));
}

torch::Tensor SpotTuneNet::forward_two_path(const torch::Tensor& images, const torch::Tensor& actions) {
  check(actions.dim() == 2 && actions.size(0) == images.size(0) && actions.size(1) == num_blocks(),
        "spottune: actions must be [", images.size(0), ", ", num_blocks(), "], got ", actions.sizes());
  auto x = trunk_->stem(images);
  for (int64_t b = 0; b < num_blocks(); ++b) {
    const torch::Tensor shared = shared_shortcut_[b] ? frozen_[b]->shortcut(x) : torch::Tensor();
    const auto f = run_copy(*frozen_[b], x, shared);
    const auto t = run_copy(*tuned_[b], x, shared);
    const auto a = actions.select(1, b).to(f.scalar_type()).view({-1, 1, 1, 1});
    x = f * (1 - a) + t * a;
  }
  return backbone_->head(trunk_->pool(x));
}

torch::Tensor SpotTuneNet::forward_split(const torch::Tensor& images, const torch::Tensor& actions) {
  check(actions.dim() == 2 && actions.size(0) == images.size(0) && actions.size(1) == num_blocks(),
        "spottune: actions must be [", images.size(0), ", ", num_blocks(), "], got ", actions.sizes());
  const auto chosen = actions.to(torch::kCPU).gt(0.5);
  auto x = trunk_->stem(images);
  for (int64_t b = 0; b < num_blocks(); ++b) {
    const auto mask = chosen.select(1, b);
    const int64_t n_tuned = mask.sum().item<int64_t>();
    const torch::Tensor none;
    if (n_tuned == 0) {
      x = run_copy(*frozen_[b], x, none);
    } else if (n_tuned == x.size(0)) {
      x = run_copy(*tuned_[b], x, none);
    } else {
      const auto rows_t = mask.nonzero().flatten().to(x.device());
      const auto rows_f = mask.logical_not().nonzero().flatten().to(x.device());
      const auto f = run_copy(*frozen_[b], x.index_select(0, rows_f), none);
      const auto t = run_copy(*tuned_[b], x.index_select(0, rows_t), none);
      auto sizes = f.sizes().vec();
      sizes[0] = x.size(0);
      x = torch::empty(sizes, f.options()).index_copy_(0, rows_f, f).index_copy_(0, rows_t, t);
    }
  }
  return backbone_->head(trunk_->pool(x));
}

}  // namespace aft::methods
