#include "aft/dist/grad_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <map>
#include <utility>

#include "aft/core/error.h"

namespace aft::dist {

namespace {

// Runs after a parameter's AccumulateGrad node, when param.grad() holds this backward's
// gradient. LibTorch's C++ API has no public hook for that moment (Python's
// register_post_accumulate_grad_hook came in 2.1); this is where PyTorch's own DDP reducer
// hooks, and the one place aft touches autograd internals (the same in 1.13 and 2.x).
class AccumulatedHook : public torch::autograd::FunctionPostHook {
 public:
  explicit AccumulatedHook(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    fn_();
    return outputs;
  }

 private:
  std::function<void()> fn_;
};

}  // namespace

// A parameter keeps only a weak pointer to its accumulator: holding it here keeps the node,
// and the hook on it, for every later backward. The pointer's type is LibTorch's own
// (std::shared_ptr up to 2.6, c10::intrusive_ptr in 2.15: aft/core/torch_compat.h).
struct GradientSync::Hooks {
  std::vector<decltype(torch::autograd::impl::grad_accumulator(std::declval<const torch::Tensor&>()))> accumulators;
  std::vector<uintptr_t> keys;
};

GradientSync::GradientSync(GroupPtr group, std::vector<torch::Tensor> params, int64_t bucket_bytes, bool overlap)
    : group_(std::move(group)), params_(std::move(params)), overlap_(overlap), hooks_(std::make_unique<Hooks>()) {
  check(group_ != nullptr, "GradientSync: no process group");
  // Buckets hold parameters of one dtype, filled in reverse order: backward produces the last
  // layers' gradients first, so the first buckets fill first and start first.
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
  bucket_of_.assign(params_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t k : buckets_[b].members) bucket_of_[k] = b;
  }
  arrivals_.assign(params_.size(), 0);
  missing_.clear();
  for (const auto& b : buckets_) missing_.push_back(b.members.size());
  if (!overlap_) return;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].requires_grad() || !params_[k].is_leaf()) continue;
    auto acc = torch::autograd::impl::grad_accumulator(params_[k]);
    if (!acc) continue;
    hooks_->keys.push_back(acc->add_post_hook(std::make_unique<AccumulatedHook>([this, k] { gradient_ready(k); })));
    hooks_->accumulators.push_back(std::move(acc));
  }
}

GradientSync::~GradientSync() {
  // The accumulators may outlive this object (a graph still refers to them): unhook first.
  for (size_t i = 0; i < hooks_->accumulators.size(); ++i) hooks_->accumulators[i]->del_post_hook(hooks_->keys[i]);
}

void GradientSync::gradient_ready(size_t k) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (++arrivals_[k] > 1) {
    // A weight used twice gets its gradient in parts; its bucket may have started with the first.
    if (calibrated_ && overlap_ && bucket_of_[k] < next_launch_) redo_ = true;
    overlap_ = false;
    return;
  }
  if (!calibrated_ || !overlap_) return;
  if (--missing_[bucket_of_[k]] > 0) return;
  // Every rank must start the same collectives in the same order: buckets start in index order.
  while (next_launch_ < buckets_.size() && missing_[next_launch_] == 0) launch(next_launch_++);
}

void GradientSync::launch(size_t index) {
  torch::NoGradGuard no_grad;
  const auto device = group_->device();
  const auto& b = buckets_[index];
  // The gradients, then one presence flag per member.
  std::vector<torch::Tensor> parts;
  std::vector<double> flags;
  for (size_t k : b.members) {
    const auto& p = params_[k];
    const auto& g = p.grad();
    parts.push_back(g.defined() ? g.reshape(-1).to(device, p.scalar_type())
                                : torch::zeros({p.numel()}, p.options().device(device)));
    flags.push_back(g.defined() ? 1.0 : 0.0);
  }
  parts.push_back(torch::tensor(flags, torch::kFloat64).to(device, params_[b.members[0]].scalar_type()));
  flats_.push_back(torch::cat(parts));
  waits_.push_back(group_->allreduce_sum_async(flats_.back()));
}

void GradientSync::average() {
  torch::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(mutex_);  // backward is over; no hook runs now
  overlapped_last_step_ = next_launch_;
  if (redo_) {
    // Finish what started (the other ranks started the same), then start everything afresh.
    for (auto& wait : waits_) wait();
    flats_.clear();
    waits_.clear();
    next_launch_ = 0;
    overlapped_last_step_ = 0;
    redo_ = false;
  }
  while (next_launch_ < buckets_.size()) launch(next_launch_++);
  const double inv_world = 1.0 / group_->world();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    waits_[i]();
    const auto& b = buckets_[i];
    const auto flags = flats_[i].slice(0, b.numel).to(torch::kCPU, torch::kFloat64).contiguous();
    const double* any_grad = flags.data_ptr<double>();
    auto flat = flats_[i].slice(0, 0, b.numel).mul_(inv_world);
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
  flats_.clear();
  waits_.clear();
  next_launch_ = 0;
  std::fill(arrivals_.begin(), arrivals_.end(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) missing_[b] = buckets_[b].members.size();
  calibrated_ = true;
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
