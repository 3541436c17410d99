#include "aft/train/bn_reestimate.h"

#include <torch/torch.h>

#include <chrono>
#include <unordered_set>

#include "aft/core/error.h"
#include "aft/train/amp.h"

namespace aft::train {

std::vector<torch::nn::BatchNorm2dImpl*> moving_batch_norms(Learner& learner) {
  std::unordered_set<const torch::nn::Module*> kept;
  for (const auto& m : learner.eval_modules()) {
    if (!m) continue;
    for (const auto& sub : m->modules(/*include_self=*/true)) kept.insert(sub.get());
  }
  std::vector<torch::nn::BatchNorm2dImpl*> out;
  std::unordered_set<const torch::nn::Module*> seen;
  for (const auto& m : learner.module()->modules(/*include_self=*/true)) {
    auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get());
    if (bn == nullptr || kept.count(m.get()) || !seen.insert(m.get()).second) continue;
    if (!bn->options.track_running_stats() || !bn->running_mean.defined() || !bn->running_var.defined()) continue;
    out.push_back(bn);
  }
  return out;
}

namespace {

// What a batch norm had before the pass: restored where the pass never reached it, and its
// momentum and training-batch counter always.
struct Saved {
  torch::nn::BatchNorm2dImpl* bn;
  bool has_momentum;
  double momentum;
  torch::Tensor mean, var, tracked;
};

}  // namespace

BnReestimateStats reestimate_batch_norms(Learner& learner, data::Loader& loader, const torch::Device& device,
                                         const BnReestimateOptions& options) {
  check(options.max_batches >= 1, "batch-norm re-estimation: max_batches must be >= 1, got ", options.max_batches);
  const auto start = std::chrono::steady_clock::now();
  BnReestimateStats stats;
  const auto norms = moving_batch_norms(learner);
  if (norms.empty()) return stats;  // nothing moves: no pass
  torch::NoGradGuard no_grad;
  learner.set_training(false);  // dropout, drop-path and frozen batch norms as in evaluation
  std::vector<Saved> saved;
  for (auto* bn : norms) {
    Saved s{bn, bn->options.momentum().has_value(), bn->options.momentum().value_or(0.0), bn->running_mean.clone(), bn->running_var.clone(),
            bn->num_batches_tracked.defined() ? bn->num_batches_tracked.clone() : torch::Tensor()};
    saved.push_back(std::move(s));
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);  // the cumulative average of every batch's statistics
    bn->train();
  }
  // Whatever happens in the pass, every batch norm gets its momentum back and leaves train mode.
  struct Restore {
    std::vector<Saved>& saved;
    ~Restore() {
      for (auto& s : saved) {
        if (s.has_momentum) {
          s.bn->options.momentum(s.momentum);
        } else {
          s.bn->options.momentum(c10::nullopt);
        }
        s.bn->eval();
      }
    }
  } restore{saved};
  loader.start_epoch(0);
  data::Batch batch;
  while (stats.batches < options.max_batches && loader.next(batch)) {
    auto images = batch.images.to(device, /*non_blocking=*/true);
    if (options.channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
    AutocastScope autocast(options.amp, device);
    learner.statistics_forward(images);
    ++stats.batches;
    stats.images += images.size(0);
  }
  for (auto& s : saved) {
    // A batch norm the forward never reached (a route no image took) keeps what it had.
    const bool reached = s.bn->num_batches_tracked.defined() ? s.bn->num_batches_tracked.item<int64_t>() > 0
                                                             : stats.batches > 0;
    if (!reached) {
      s.bn->running_mean.copy_(s.mean);
      s.bn->running_var.copy_(s.var);
    }
    if (s.tracked.defined()) s.bn->num_batches_tracked.copy_(s.tracked);
  }
  if (options.group != nullptr && options.group->world() > 1 && !options.synchronised) {
    // Every rank read as many batches of its shard: the global cumulative average is the mean
    // of the ranks' (a batch norm unreached on one rank is unreached on all: the same network).
    std::vector<torch::Tensor> parts;
    for (const auto& s : saved) {
      parts.push_back(s.bn->running_mean.reshape(-1).to(torch::kFloat64));
      parts.push_back(s.bn->running_var.reshape(-1).to(torch::kFloat64));
    }
    auto flat = torch::cat(parts).to(options.group->device()).contiguous();
    options.group->allreduce_sum(flat);
    flat = (flat / static_cast<double>(options.group->world())).to(torch::kCPU);
    int64_t offset = 0;
    for (const auto& s : saved) {
      for (auto* t : {&s.bn->running_mean, &s.bn->running_var}) {
        const int64_t n = t->numel();
        t->copy_(flat.slice(0, offset, offset + n).view(t->sizes()));
        offset += n;
      }
    }
  }
  stats.norms = static_cast<int64_t>(norms.size());
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace aft::train
