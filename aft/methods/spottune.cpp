// Decisions beyond docs/spottune.md: the stem, the ResNet-26 pre-pool BN and the new head
// exist once and train with the tuned blocks (the reference optimises every parameter with
// requires_grad; only the parallel blocks' convolutions are frozen). A projection shortcut
// (torchvision's `downsample`) is part of its block, so each copy keeps its own: frozen in
// F_b, tuned in T_b; parameter-free shortcuts are computed once and shared, as in the formula.
#include "aft/methods/spottune.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <unordered_set>

#include "aft/core/error.h"
#include "aft/train/trainer.h"

namespace aft::methods {

void SpotTuneOptions::validate() const {
  check_choice("--frozen-bn", frozen_bn, {"freeze", "train"});
  check_choice("--route", route, {"argmax", "sample"});
  check(temperature > 0, "--temperature must be positive, got ", temperature);
  check(policy_lr > 0 && std::isfinite(policy_lr), "--policy-lr ", policy_lr, ": must be > 0");
  check(policy_wd >= 0, "--policy-wd must not be negative, got ", policy_wd);
  check(global_k_weight >= 0, "--global-k-weight must not be negative, got ", global_k_weight);
  check(global_k_entropy_weight >= 0, "--global-k-entropy-weight must not be negative, got ", global_k_entropy_weight);
  check(policy_width > 0 && std::isfinite(policy_width), "--policy-width ", policy_width, ": must be > 0");
}

void SpotTuneMethod::attach(models::ModelPtr model) {
  check(dynamic_cast<models::BlockTrunk*>(model.get()) != nullptr,
        "--method spottune routes residual blocks and needs a ResNet or an EfficientNet-Lite, got ",
        model ? model->config().arch : std::string("no model"));
  Method::attach(model);
  net_ = std::make_shared<SpotTuneNet>(model, options_.policy_width);
  check(options_.global_k <= static_cast<double>(net_->num_blocks()), "--global-k ", options_.global_k, " exceeds the ",
        net_->num_blocks(), " routed blocks of ", model->config().arch);
  if (options_.frozen_bn == "freeze") {
    for (auto& block : net_->frozen_blocks()) {
      for (auto& p : block->parameters()) p.set_requires_grad(false);
    }
  }
  if (options_.global_k >= 0) {
    // Until the first epoch decides, every block keeps its frozen copy.
    global_route_ = net_->register_buffer("global_route", torch::zeros({net_->num_blocks()}));
    epoch_tuned_ = torch::zeros({net_->num_blocks()});
  }
  tuned_per_block_ = torch::zeros({net_->num_blocks()}, torch::kInt64);
  tuned_count_histogram_ = torch::zeros({net_->num_blocks() + 1}, torch::kInt64);
  images_seen_ = 0;
  const int64_t classes = std::max<int64_t>(model->config().num_classes, 1);
  tuned_by_class_ = torch::zeros({classes, net_->num_blocks()}, torch::kInt64);
  images_by_class_ = torch::zeros({classes}, torch::kInt64);
}

std::vector<ParamGroup> SpotTuneMethod::param_groups() {
  std::unordered_set<const void*> frozen;
  for (auto& block : net_->frozen_blocks()) {
    for (auto& p : block->parameters()) frozen.insert(p.unsafeGetTensorImpl());
  }
  ParamGroup network{"network", {}, 1.0, -1.0};
  for (auto& p : net_->backbone().parameters()) {
    if (!frozen.count(p.unsafeGetTensorImpl())) network.params.push_back(p);
  }
  for (auto& block : net_->tuned_blocks()) {
    for (auto& p : block->parameters()) network.params.push_back(p);
  }
  if (options_.frozen_bn == "train") {
    // The reference freezes only the frozen copies' convolutions.
    for (auto& block : net_->frozen_blocks()) {
      for (auto& m : block->modules(false)) {
        if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
          network.params.push_back(bn->weight);
          network.params.push_back(bn->bias);
        }
      }
    }
  }
  // The policy has its own rate (the reference: 0.01 beside the network's 0.1), under the same schedule.
  ParamGroup policy{"policy", net_->policy().parameters(), 1.0, options_.policy_wd, options_.policy_lr};
  return {network, policy};
}

std::vector<std::shared_ptr<torch::nn::Module>> SpotTuneMethod::eval_modules() {
  std::vector<std::shared_ptr<torch::nn::Module>> out;
  if (options_.frozen_bn != "freeze") return out;
  for (auto& block : net_->frozen_blocks()) out.push_back(block);
  return out;
}

torch::Tensor SpotTuneMethod::sample_actions(const torch::Tensor& images) {
  const auto logits = net_->policy().forward(images);
  return gumbel_softmax_hard(logits, gumbel_noise(logits), options_.temperature).select(-1, 1);
}

torch::Tensor SpotTuneMethod::route(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const auto logits = net_->policy().forward(images);
  if (options_.route == "sample") {
    return gumbel_softmax_hard(logits, gumbel_noise(logits), options_.temperature).select(-1, 1);
  }
  return logits.select(-1, 1).gt(logits.select(-1, 0)).to(logits.scalar_type());
}

torch::Tensor SpotTuneMethod::global_k_loss(const torch::Tensor& actions) const {
  if (options_.global_k < 0) return torch::zeros({}, actions.options());
  const auto v = actions.mean(0);  // straight-through: carries the policy's gradient
  const double eps = 1e-6;
  const auto vc = v.clamp(eps, 1 - eps);
  const auto entropy = -(vc * vc.log() + (1 - vc) * (1 - vc).log());
  return options_.global_k_weight * (v.sum() - options_.global_k).pow(2) +
         options_.global_k_entropy_weight * entropy.sum();
}

void SpotTuneMethod::on_epoch_start(train::Trainer&, int64_t) {
  if (options_.global_k < 0) return;
  epoch_tuned_.zero_();
  epoch_images_ = 0;
  route_fresh_ = false;
}

StepOutput SpotTuneMethod::train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) {
  // Both paths run on every image: the straight-through gradient to a_b is the difference
  // between the two copies' outputs, so the policy learns only from the two-path mix.
  const auto actions = sample_actions(images);
  const auto logits = net_->forward_two_path(images, actions);
  auto loss = task_loss(logits, labels);
  if (options_.global_k >= 0) {
    loss = loss + global_k_loss(actions.to(torch::kFloat32));
    // Summed where the actions are: no copy to the host (and no wait for the device) per step.
    if (epoch_tuned_.device() != actions.device()) epoch_tuned_ = epoch_tuned_.to(actions.device());
    epoch_tuned_ += actions.detach().to(torch::kFloat32).sum(0);
    epoch_images_ += actions.size(0);
  }
  return {loss, logits};
}

torch::Tensor SpotTuneMethod::decisions(const torch::Tensor& images) {
  // Global-k: one route for every image, no policy network at inference.
  if (options_.global_k >= 0) {
    return global_route_.to(images.device()).unsqueeze(0).expand({images.size(0), -1}).contiguous();
  }
  return route(images);
}

torch::Tensor SpotTuneMethod::predict(const torch::Tensor& images) {
  return net_->forward_split(images, decisions(images));
}

torch::Tensor SpotTuneMethod::statistics_forward(const torch::Tensor& images) {
  return net_->forward_two_path(images, decisions(images));
}

torch::Tensor SpotTuneMethod::evaluate_batch(const torch::Tensor& images, const torch::Tensor& labels) {
  const auto actions = decisions(images);
  if (counting_) {
    const auto chosen = actions.detach().to(torch::kCPU).gt(0.5);
    tuned_per_block_ += chosen.sum(0).to(torch::kInt64);
    tuned_count_histogram_ += torch::bincount(chosen.sum(1), {}, net_->num_blocks() + 1);
    images_seen_ += chosen.size(0);
    if (!timing_batch_.defined()) timing_batch_ = images.detach().clone();
    const auto cls = labels.detach().to(torch::kCPU, torch::kInt64);
    check(cls.size(0) == chosen.size(0), "spottune: ", cls.size(0), " labels for ", chosen.size(0), " routed images");
    // Labels beyond the head (a test split with more classes than the run) are not counted per class.
    const auto known = cls.ge(0).logical_and(cls.lt(images_by_class_.size(0)));
    const auto rows = cls.masked_select(known);
    tuned_by_class_.index_add_(0, rows, chosen.index({known}).to(torch::kInt64));
    images_by_class_.index_add_(0, rows, torch::ones_like(rows));
  }
  return net_->forward_split(images, actions);
}

void SpotTuneMethod::on_evaluate_start(const std::string& split) {
  if (options_.global_k >= 0 && epoch_images_ > 0 && !route_fresh_) {
    // The blocks most of the epoch's training images tuned become the route for all. Once per
    // epoch: the test pass then sees the route saved with the weights it tests (--keep-best).
    torch::NoGradGuard no_grad;
    global_route_.copy_((epoch_tuned_ / static_cast<double>(epoch_images_)).gt(0.5).to(global_route_.device(), global_route_.scalar_type()));
    route_fresh_ = true;
  }
  // Routing statistics describe the test pass (or an `aft eval` pass, split ""), never val.
  counting_ = split == "test" || split.empty();
  if (!counting_) return;
  tuned_per_block_.zero_();
  tuned_count_histogram_.zero_();
  tuned_by_class_.zero_();
  images_by_class_.zero_();
  images_seen_ = 0;
  timing_batch_ = torch::Tensor();
}

nlohmann::json SpotTuneMethod::time_inference(const torch::Tensor& images, int repeats) {
  const bool was_training = net_->is_training();
  set_training(false);
  torch::NoGradGuard no_grad;
  const auto actions = route(images);
  using clock = std::chrono::steady_clock;
  // .item() waits for the device, so the times hold on CUDA as well.
  auto time_ms = [&](auto&& fn) {
    fn().sum().template item<double>();  // warm-up (allocator, kernels)
    const auto start = clock::now();
    for (int r = 0; r < repeats; ++r) fn().sum().template item<double>();
    return std::chrono::duration<double, std::milli>(clock::now() - start).count() / repeats;
  };
  const double two_path = time_ms([&] { return net_->forward_two_path(images, actions); });
  const double split = time_ms([&] { return net_->forward_split(images, actions); });
  set_training(was_training);
  return {{"batch", images.size(0)},        {"repeats", repeats},
          {"two_path_ms", two_path},        {"split_ms", split},
          {"speedup", split > 0 ? two_path / split : 0.0},
          {"tuned_fraction", actions.mean().item<double>()}};
}

nlohmann::json SpotTuneMethod::report() {
  nlohmann::json fraction = nlohmann::json::array(), usage = nlohmann::json::object();
  const auto& names = net_->trunk().block_names();
  double total_tuned = 0;
  for (int64_t b = 0; b < net_->num_blocks(); ++b) {
    const double count = tuned_per_block_[b].item<double>();
    total_tuned += count;
    const double f = images_seen_ > 0 ? count / images_seen_ : 0.0;
    fraction.push_back(f);
    usage[names[b]] = f;
  }
  const auto histogram = tuned_count_histogram_.contiguous();
  std::vector<int64_t> images_by_count(histogram.data_ptr<int64_t>(), histogram.data_ptr<int64_t>() + histogram.numel());
  nlohmann::json out = {{"blocks", names},
                        {"tuned_fraction", fraction},
                        {"tuned_fraction_by_block", usage},
                        {"mean_tuned_blocks", images_seen_ > 0 ? total_tuned / images_seen_ : 0.0},
                        {"tuned_blocks_histogram", images_by_count},
                        {"routed_images", images_seen_},
                        {"num_blocks", net_->num_blocks()},
                        {"route", options_.route},
                        {"frozen_bn", options_.frozen_bn}};
  // Per class (the label index; config.json's "classes" names them): how many blocks its
  // images tuned on average, and each block's tuned fraction. Classes without test images are left out.
  nlohmann::json by_class = nlohmann::json::array();
  for (int64_t c = 0; c < images_by_class_.size(0); ++c) {
    const int64_t n = images_by_class_[c].item<int64_t>();
    if (n == 0) continue;
    const auto per_block = tuned_by_class_[c].to(torch::kFloat64) / static_cast<double>(n);
    by_class.push_back({{"class", c},
                        {"images", n},
                        {"mean_tuned_blocks", per_block.sum().item<double>()},
                        {"tuned_fraction", std::vector<double>(per_block.data_ptr<double>(),
                                                               per_block.data_ptr<double>() + per_block.numel())}});
  }
  out["by_class"] = by_class;
  if (options_.global_k >= 0) {
    const auto route = global_route_.to(torch::kCPU);
    std::vector<std::string> chosen;
    for (int64_t b = 0; b < route.size(0); ++b) {
      if (route[b].item<double>() > 0.5) chosen.push_back(names[b]);
    }
    out["global_k"] = {{"k", options_.global_k},
                       {"tuned_blocks", chosen},
                       {"sum_v_last_epoch", epoch_images_ > 0 ? (epoch_tuned_ / epoch_images_).sum().item<double>() : -1.0}};
  }
  if (timing_batch_.defined()) out["inference"] = time_inference(timing_batch_, 3);
  return out;
}

MethodInfo spottune_method() {
  MethodInfo info{"spottune", "per-image routing between frozen and fine-tuned residual blocks (SpotTune, Global-k)",
                  [] { return std::make_unique<SpotTuneOptions>(); },
                  [](const Options& o) { return std::make_shared<SpotTuneMethod>(dynamic_cast<const SpotTuneOptions&>(o)); },
                  nullptr};
  info.cost_guess = 1.7;  // both copies of every block forward, the policy network besides
  info.fits_arch = "resnet|efficientnet_lite";  // it routes residual blocks (BlockTrunk)
  return info;
}

}  // namespace aft::methods
