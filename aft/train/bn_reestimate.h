// Batch-norm statistics that match the weights (--bn-reestimate; docs/benchmarks.md, "Batch-norm
// re-estimation"). A short fine-tune leaves running statistics far behind the weights (momentum
// 0.1 keeps 0.9^steps of the source's), so evaluation reads a model that never existed. Here the
// statistics of every batch norm that trains are reset and recomputed as a cumulative average
// (torch's momentum None) over a pass of training images under the eval transform, with no
// gradient and everything else in eval mode; batch norms a method keeps frozen
// (Learner::eval_modules()) are never touched.
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "aft/data/loader.h"
#include "aft/dist/process_group.h"
#include "aft/train/learner.h"

namespace aft::train {

// The batch norms whose running statistics move in training: every torch::nn::BatchNorm2dImpl
// of learner.module() that tracks running statistics and lies in none of eval_modules() (each
// once, in module order).
std::vector<torch::nn::BatchNorm2dImpl*> moving_batch_norms(Learner& learner);

struct BnReestimateOptions {
  int64_t max_batches = 50;      // batches read at most (the loader's first ones)
  std::string amp = "off";       // the autocast evaluation uses
  bool channels_last = false;
  // Data-parallel: each rank reads its shard of every batch; the ranks' averages are averaged
  // (every rank reads as many batches, the loader pads). `synchronised`: the batch norms already
  // normalise with the global batch (--sync-bn), so every rank holds the global statistics.
  dist::Group* group = nullptr;
  bool synchronised = false;
};

struct BnReestimateStats {
  int64_t norms = 0;    // batch norms recomputed
  int64_t batches = 0;  // batches read (this rank's)
  int64_t images = 0;
  double seconds = 0;
};

// Recomputes the statistics of moving_batch_norms(learner) over `loader` (its epoch 0, so that
// the same weights always give the same statistics). Each keeps its momentum and its counter
// of training batches; one that the learner's statistics_forward() never reached keeps its
// statistics. Leaves the learner in eval mode.
BnReestimateStats reestimate_batch_norms(Learner& learner, data::Loader& loader, const torch::Device& device,
                                         const BnReestimateOptions& options);

}  // namespace aft::train
