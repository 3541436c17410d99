// Batches from a dataset with worker threads and prefetching. Each sample's augmentation
// is seeded from (seed, epoch, position), so batches are identical for any thread count.
// Training loaders never yield a batch of size 1 (batch norm cannot train on it).
#pragma once
#include <torch/types.h>

#include <memory>
#include <vector>

#include "aft/data/dataset.h"
#include "aft/data/transforms.h"

namespace aft::data {

struct Batch {
  torch::Tensor images;  // float [N,3,H,W], normalised
  torch::Tensor labels;  // int64 [N]
  std::vector<size_t> indices;  // dataset indices of the samples, in batch order
};

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;     // reshuffled per epoch from (seed, epoch)
  bool drop_last = false;   // a final batch of size 1 is always dropped when shuffle is on
  int threads = 2;          // decoding/augmenting workers
  int prefetch = 4;         // batches prepared ahead
  uint64_t seed = 0;
  // Distributed sharding: this loader yields only shard `rank` of `world` (same shuffle on all).
  int rank = 0;
  int world = 1;
  // With shuffle: one weight per index (in the order given); each epoch then draws as many
  // samples as there are indices, with replacement, in proportion to the weights (a balanced
  // sampler), instead of a permutation. Empty: a permutation.
  std::vector<double> sample_weights;
  // Training shards wrap around so every rank gets as many batches (collectives match);
  // evaluation shards do not (false), so each sample is counted exactly once over the ranks.
  bool pad = true;
  // Batches in page-locked host memory, for a loader that feeds a CUDA device: the copy to the
  // device can then run asynchronously (Tensor::to(device, non_blocking)). Needs CUDA at run
  // time; such batches come from LibTorch's pinned allocator, which keeps a block until the
  // copies that read it are done, so they are not recycled by the loader.
  bool pin_memory = false;
};

class Loader {
 public:
  Loader(DatasetPtr dataset, std::vector<size_t> indices, TransformPtr transform, LoaderOptions options);
  ~Loader();
  // Starts an epoch; the order and augmentation depend only on (seed, epoch).
  void start_epoch(int64_t epoch);
  // Next batch of the current epoch; false at the end. Worker errors are rethrown here.
  bool next(Batch& batch);
  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aft::data
