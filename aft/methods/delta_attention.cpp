// Decisions beyond the paper, and where we part from TLlib's example: the probe trains the
// new head alone on cached features (TLlib means to freeze the backbone, but setting
// requires_grad on a Module object freezes nothing, so its "probe" fine-tunes everything);
// a channel is zeroed in the pulled layer's output itself, the map the penalty compares
// (TLlib zeroes the filter of the conv before the block's last norm, whose bias then remains).
#include "aft/methods/delta_attention.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/data/loader.h"
#include "aft/methods/lp_ft.h"
#include "aft/train/trainer.h"

namespace aft::methods {
namespace {

// Zeroed copies of a map are run through the rest of the trunk together, this many images at
// a time: one pass per channel would be thousands of tiny passes on a ResNet-50.
constexpr int64_t kReplicaImages = 256;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<torch::Tensor> channel_loss_rise(models::VisionModel& model, const std::vector<PulledLayer>& layers,
                                             const std::vector<std::pair<torch::Tensor, torch::Tensor>>& batches) {
  check(!batches.empty(), "delta: no batches to measure the channel attention on");
  torch::NoGradGuard no_grad;
  model.eval();
  namespace F = torch::nn::functional;
  const auto per_image = F::CrossEntropyFuncOptions().reduction(torch::kNone);
  std::vector<torch::Tensor> sums(layers.size());
  for (const auto& [images, labels] : batches) {
    std::vector<torch::Tensor> maps;
    const double base = F::cross_entropy(forward_with_maps(model, images, layers, maps), labels).item<double>();
    const int64_t n = images.size(0);
    for (size_t l = 0; l < layers.size(); ++l) {
      const auto& map = maps[l];
      const int64_t dim = channel_dim(map), channels = map.size(dim);
      const auto eye = torch::eye(channels, map.options());
      auto rise = torch::empty({channels}, torch::kFloat64);
      const int64_t chunk = std::max<int64_t>(1, kReplicaImages / n);
      for (int64_t begin = 0; begin < channels; begin += chunk) {
        const int64_t k = std::min(chunk, channels - begin);
        // Copy j of the map has channel begin + j zeroed; copies are stacked along the batch.
        std::vector<int64_t> shape(static_cast<size_t>(map.dim()) + 1, 1);
        shape[0] = k;
        shape[static_cast<size_t>(dim) + 1] = channels;
        const auto keep = (1 - eye.slice(0, begin, begin + k)).view(shape);
        const auto zeroed = (map.unsqueeze(0) * keep).flatten(0, 1);
        const auto rest = model.run_pieces(zeroed, layers[l].piece + 1, model.piece_count());
        const auto logits = model.head(model.trunk_end(rest));
        const auto losses = F::cross_entropy(logits, labels.repeat({k}), per_image).view({k, n}).mean(1);
        rise.slice(0, begin, begin + k).copy_(losses.to(torch::kCPU, torch::kFloat64) - base);
      }
      sums[l] = sums[l].defined() ? sums[l] + rise : rise;
    }
  }
  for (auto& s : sums) s = s / static_cast<double>(batches.size());
  return sums;
}

torch::Tensor attention_from_rise(const torch::Tensor& rise) {
  const auto r = rise.to(torch::kFloat64);
  const double spread = (r - r.mean()).pow(2).mean().sqrt().item<double>();  // population std, as numpy
  if (!(spread > 0)) return torch::full({r.numel()}, 1.0 / static_cast<double>(r.numel()), torch::kFloat32);
  return torch::softmax((r - r.mean()) / spread / kAttentionTemperature, 0).to(torch::kFloat32);
}

ChannelAttention measure_attention(models::VisionModel& model, const PrepareContext& context,
                                   const std::vector<PulledLayer>& layers, int64_t probe_epochs, double probe_lr,
                                   int64_t batches) {
  check(context.data && context.train_options, "delta: no task to measure the channel attention on");
  const auto& run = *context.train_options;
  const auto start = std::chrono::steady_clock::now();
  const auto device = parse_device(run.device);
  model.to(device);
  model.eval();
  data::LoaderOptions lo;
  lo.batch_size = run.batch_size;
  lo.threads = static_cast<int>(run.workers);
  lo.shuffle = true;  // the attention batches are a sample of the task, not its first classes
  lo.seed = static_cast<uint64_t>(run.seed);
  const auto& splits = context.data->splits;
  data::Loader loader(splits.train, splits.train_indices, context.data->eval_transform, lo);
  loader.start_epoch(0);
  std::vector<torch::Tensor> features, labels;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> kept;
  {
    torch::NoGradGuard no_grad;
    data::Batch batch;
    while (loader.next(batch)) {
      features.push_back(model.features(batch.images.to(device)).to(torch::kCPU));
      labels.push_back(batch.labels);
      if (static_cast<int64_t>(kept.size()) < batches) kept.emplace_back(batch.images, batch.labels);
    }
  }
  check(!features.empty(), "delta: the training split is empty");
  const auto x = torch::cat(features), y = torch::cat(labels);
  auto params = model.named_parameters();
  const std::string head = model.head_prefix();
  const auto probe = train_probe(x, y, params[head + ".weight"].to(torch::kCPU), params[head + ".bias"].to(torch::kCPU),
                                 probe_epochs, run.batch_size, probe_lr, run.momentum, run.weight_decay,
                                 run.label_smoothing, static_cast<uint64_t>(run.seed));
  double probe_accuracy = 0;
  {
    torch::NoGradGuard no_grad;
    params[head + ".weight"].copy_(probe.weight);
    params[head + ".bias"].copy_(probe.bias);
    probe_accuracy = torch::nn::functional::linear(x, probe.weight, probe.bias)
                         .argmax(1).eq(y).to(torch::kFloat64).mean().item<double>();
  }
  for (auto& [images, batch_labels] : kept) {
    images = images.to(device);
    batch_labels = batch_labels.to(device);
  }
  const auto rise_start = std::chrono::steady_clock::now();
  ChannelAttention out;
  out.rise = channel_loss_rise(model, layers, kept);
  nlohmann::json spread = nlohmann::json::array();
  for (const auto& r : out.rise) {
    out.attention.push_back(attention_from_rise(r));
    // max/min weight: how far from uniform the attention of each layer is.
    const auto& a = out.attention.back();
    spread.push_back(a.max().item<double>() / a.min().item<double>());
  }
  out.report = {{"probe_epochs", probe_epochs},
                {"probe_train_accuracy", probe_accuracy},
                {"probe_seconds", probe.seconds},
                {"attention_batches", kept.size()},
                {"rise_seconds", seconds_since(rise_start)},
                {"attention_seconds", seconds_since(start)},
                {"attention_max_over_min", spread}};
  if (!context.quiet) {
    log::info("delta: channel attention of " + std::to_string(layers.size()) + " layers from " +
              std::to_string(kept.size()) + " batches (probe train accuracy " + std::to_string(probe_accuracy) + ")");
  }
  return out;
}

}  // namespace aft::methods
