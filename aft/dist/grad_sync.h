// Data parallelism's two obligations: every rank starts from rank 0's weights, and every
// optimizer step uses the gradient averaged over ranks. Gradients travel in flat buckets
// (~25 MB, as PyTorch's DDP); a bucket's all-reduce starts during backward, as soon as the
// autograd engine has accumulated the gradients of all its members, so communication overlaps
// with the rest of backward.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "aft/dist/process_group.h"

namespace aft::dist {

class GradientSync {
 public:
  // `overlap` false: every all-reduce starts in average(), after backward (the simple scheme).
  GradientSync(GroupPtr group, std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20,
               bool overlap = true);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;
  // Call after backward, before anything reads the gradients (masks, clipping, the step).
  // A parameter without a gradient on one rank counts as zeros there; it stays without a
  // gradient only when no rank produced one (so optimizers skip it exactly as in one process).
  void average();
  size_t buckets() const { return buckets_.size(); }
  // Buckets whose all-reduce started before the last average() call, i.e. during backward.
  size_t overlapped_last_step() const { return overlapped_last_step_; }
  // False once a parameter's gradient arrived in two parts within one backward (a weight used
  // twice): its bucket cannot start early, so every bucket waits for average() from then on.
  bool overlapping() const { return overlap_; }

 private:
  struct Bucket {
    std::vector<size_t> members;
    int64_t numel = 0;
  };
  // From the autograd engine, after parameter k's gradient was accumulated.
  void gradient_ready(size_t k);
  void launch(size_t b);  // packs bucket b and starts its all-reduce (buckets start in order)

  GroupPtr group_;
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  bool overlap_;
  // Per backward: arrivals per parameter, members still missing per bucket, next bucket to start.
  std::mutex mutex_;
  std::vector<int> arrivals_;
  std::vector<size_t> missing_;
  size_t next_launch_ = 0;
  bool calibrated_ = false;  // the first backward only counts arrivals
  bool redo_ = false;         // a bucket started before all of its gradient had arrived
  size_t overlapped_last_step_ = 0;
  std::vector<torch::Tensor> flats_;
  std::vector<std::function<void()>> waits_;
  struct Hooks;                 // the autograd side (gradient accumulators), see the .cpp
  std::unique_ptr<Hooks> hooks_;
};

// Overwrites every rank's tensors with rank `root`'s values (flattened per dtype: one message).
void broadcast_tensors(Group& group, const std::vector<torch::Tensor>& tensors, int root = 0);
// Parameters and buffers (batch-norm statistics, masks) of a module, from rank `root`.
void broadcast_module(Group& group, torch::nn::Module& module, int root = 0);

}  // namespace aft::dist
