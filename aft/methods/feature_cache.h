// Features of one frozen pretrained backbone (eval mode, the task's eval transform), kept per
// image of one dataset. A linear probe trains on fixed features, so every probe over the same
// source and images can share them: in a `--method auto` race, lp-ft's first stage on each of
// k folds and in the winner's retraining reads each image's features once instead of k + 1
// times (auto.md, "Shared work").
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "aft/models/model.h"

namespace aft::train {
struct TrainData;
}

namespace aft::methods {

class FeatureCache {
 public:
  // The features [N, D] of the training split's images `indices` (rows in that order), on the
  // CPU, computing those not cached yet with `model` (the pretrained backbone; put in eval
  // mode) in batches of `batch_size` on `device`.
  torch::Tensor features(models::VisionModel& model, const train::TrainData& data, const std::vector<size_t>& indices,
                         int64_t batch_size, int workers, const torch::Device& device);
  // Images whose features were computed so far (each once).
  int64_t computed() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<size_t, torch::Tensor> rows_;
};

}  // namespace aft::methods
