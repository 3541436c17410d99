#include "aft/dist/grad_sync.h"

#include <torch/torch.h>

#include <functional>
#include <map>

#include "aft/core/error.h"

namespace aft::dist {

GradientSync::GradientSync(GroupPtr group, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : group_(std::move(group)), params_(std::move(params)) {
  check(group_ != nullptr, "GradientSync: no process group");
  // Buckets hold parameters of one dtype, filled in reverse order: backward produces the last
  // layers' gradients first, which is the order a backward-overlapped scheme would also use.
  std::map<torch::ScalarType, Bucket> open;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    auto& b = open[p.scalar_type()];
    b.members.push_back(k);
    b.numel += p.numel();
    if (b.numel * static_cast<int64_t>(p.element_size()) >= bucket_bytes) {
      buckets_.push_back(std::move(b));
      open.erase(p.scalar_type());
    }
  }
  for (auto& [dtype, b] : open) buckets_.push_back(std::move(b));
}

void GradientSync::average() {
  torch::NoGradGuard no_grad;
  const auto device = group_->device();
  const double inv_world = 1.0 / group_->world();
  std::vector<torch::Tensor> flats;
  std::vector<std::function<void()>> waits;
  for (const auto& b : buckets_) {
    // The gradients, then one presence flag per member.
    std::vector<torch::Tensor> parts;
    for (size_t k : b.members) {
      const auto& p = params_[k];
      const auto& g = p.grad();
      parts.push_back(g.defined() ? g.reshape(-1).to(device, p.scalar_type()) : torch::zeros({p.numel()}, p.options().device(device)));
    }
    std::vector<double> flags;
    for (size_t k : b.members) flags.push_back(params_[k].grad().defined() ? 1.0 : 0.0);
    parts.push_back(torch::tensor(flags, torch::kFloat64).to(device, params_[b.members[0]].scalar_type()));
    flats.push_back(torch::cat(parts));
    waits.push_back(group_->allreduce_sum_async(flats.back()));
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    waits[i]();
    const auto& b = buckets_[i];
    const auto flags = flats[i].slice(0, b.numel).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* any_grad = flags.data_ptr<double>();
    auto flat = flats[i].slice(0, 0, b.numel).mul_(inv_world);
    int64_t offset = 0;
    for (size_t j = 0; j < b.members.size(); ++j) {
      auto& p = params_[b.members[j]];
      const int64_t n = p.numel();
      if (any_grad[j] > 0) {
        auto averaged = flat.slice(0, offset, offset + n).view(p.sizes()).to(p.device());
        if (p.grad().defined()) {
          p.mutable_grad().copy_(averaged);
        } else {
          p.mutable_grad() = averaged.clone();
        }
      }
      offset += n;
    }
  }
}

void broadcast_tensors(Group& group, const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  std::map<torch::ScalarType, std::vector<torch::Tensor>> by_dtype;
  for (const auto& t : tensors) {
    if (t.defined() && t.numel() > 0) by_dtype[t.scalar_type()].push_back(t);
  }
  for (auto& [dtype, list] : by_dtype) {
    std::vector<torch::Tensor> parts;
    for (const auto& t : list) parts.push_back(t.reshape(-1).to(group.device()));
    auto flat = torch::cat(parts);
    group.broadcast(flat, root);
    int64_t offset = 0;
    for (auto& t : list) {
      const int64_t n = t.numel();
      t.copy_(flat.slice(0, offset, offset + n).view(t.sizes()));
      offset += n;
    }
  }
}

void broadcast_module(Group& group, torch::nn::Module& module, int root) {
  std::vector<torch::Tensor> all = module.parameters();
  for (const auto& b : module.buffers()) all.push_back(b);
  broadcast_tensors(group, all, root);
}

}  // namespace aft::dist
