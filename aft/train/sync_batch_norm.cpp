#include "aft/train/sync_batch_norm.h"

#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/dist/autograd_allreduce.h"

namespace aft::train {

SyncBatchNorm::SyncBatchNorm(dist::GroupPtr group) : group_(std::move(group)) {
  check(group_ != nullptr, "SyncBatchNorm: no process group");
}

torch::Tensor SyncBatchNorm::forward(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  check(x.dim() == 4, "--sync-bn: BatchNorm2d expects a 4-D input, got ", x.dim(), " dimensions");
  const int64_t channels = x.size(1);
  const auto& o = bn.options;
  // Statistics in float (also under fp16/bf16 autocast, as torch's batch norm keeps them).
  const torch::Tensor xf = x.scalar_type() == torch::kFloat64 ? x : x.to(torch::kFloat32);
  const double n = static_cast<double>(x.numel() / std::max<int64_t>(channels, 1));
  // Each rank's count, mean and (biased) variance go to every rank, each in its own row of a
  // summed [world, 1 + 2C] table (an all-gather made of the one differentiable all-reduce),
  // and are combined as torch.nn.SyncBatchNorm does: var = sum n_r (v_r + (m_r - mean)^2) / N.
  // E[x^2] - mean^2 instead would cancel catastrophically where the mean dwarfs the spread.
  auto [var_r, mean_r] = torch::var_mean(xf, {0, 2, 3}, /*unbiased=*/false, /*keepdim=*/false);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(x.device());
  const int64_t world = group_->world(), rank = group_->rank(), width = 1 + 2 * channels;
  const torch::Tensor row = torch::cat({torch::full({1}, n, f64), mean_r.to(torch::kFloat64), var_r.to(torch::kFloat64)});
  const torch::Tensor table = dist::differentiable_allreduce_sum(
      *group_, torch::cat({torch::zeros({rank * width}, f64), row, torch::zeros({(world - 1 - rank) * width}, f64)})
                   .view({world, width}));
  const torch::Tensor counts = table.select(1, 0).detach();  // [world]
  const double count_value = counts.sum().item<double>();
  check(count_value > 1, "--sync-bn: expected more than 1 value per channel when training, got ", count_value);
  const torch::Tensor w = (counts / count_value).unsqueeze(1);  // [world, 1]
  const torch::Tensor means = table.slice(1, 1, 1 + channels), vars = table.slice(1, 1 + channels, width);
  const torch::Tensor mean = (w * means).sum(0);
  const torch::Tensor var = (w * (vars + (means - mean).pow(2))).sum(0);

  if (bn.is_training() && o.track_running_stats() && bn.running_mean.defined()) {
    torch::NoGradGuard no_grad;
    double factor = o.momentum().value_or(0.0);
    if (bn.num_batches_tracked.defined()) {
      bn.num_batches_tracked += 1;
      // momentum None: a cumulative average, as torch's BatchNorm.
      if (!o.momentum().has_value()) factor = 1.0 / bn.num_batches_tracked.item<double>();
    }
    const auto dtype = bn.running_mean.scalar_type();
    bn.running_mean.mul_(1.0 - factor).add_(mean.detach().to(dtype), factor);
    bn.running_var.mul_(1.0 - factor).add_((var.detach() * (count_value / (count_value - 1))).to(dtype), factor);
  }

  const torch::Tensor invstd = torch::rsqrt(var + o.eps());
  torch::Tensor y = (xf - mean.to(xf.scalar_type()).view({1, channels, 1, 1})) *
                    invstd.to(xf.scalar_type()).view({1, channels, 1, 1});
  if (o.affine()) y = y * bn.weight.view({1, channels, 1, 1}) + bn.bias.view({1, channels, 1, 1});
  return y.to(x.scalar_type());
}

SyncBatchNormScope::SyncBatchNormScope(torch::nn::Module& module, dist::GroupPtr group) {
  auto sync = std::make_shared<SyncBatchNorm>(std::move(group));
  for (const auto& item : module.named_modules()) {
    auto* any = dynamic_cast<torch::nn::BatchNorm2dImpl*>(item.value().get());
    if (any == nullptr) continue;
    auto ours = std::dynamic_pointer_cast<models::BatchNorm2dImpl>(item.value());
    check(ours != nullptr, "--sync-bn: batch norm '", item.key(),
          "' is a plain torch::nn::BatchNorm2d; build it as aft::models::BatchNorm2d to synchronise it");
    ours->set_override(sync);
    norms_.push_back(std::move(ours));
  }
}

SyncBatchNormScope::~SyncBatchNormScope() {
  for (auto& bn : norms_) bn->set_override(nullptr);
}

}  // namespace aft::train
