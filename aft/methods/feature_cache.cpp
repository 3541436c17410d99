#include "aft/methods/feature_cache.h"

#include <torch/torch.h>

#include "aft/data/loader.h"
#include "aft/train/trainer.h"

namespace aft::methods {

torch::Tensor FeatureCache::features(models::VisionModel& model, const train::TrainData& data,
                                     const std::vector<size_t>& indices, int64_t batch_size, int workers,
                                     const torch::Device& device) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<size_t> missing;
  for (size_t i : indices) {
    if (!rows_.count(i)) missing.push_back(i);
  }
  if (!missing.empty()) {
    model.to(device);
    model.eval();
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.threads = workers;
    data::Loader loader(data.splits.train, missing, data.eval_transform, lo);
    loader.start_epoch(0);
    torch::NoGradGuard no_grad;
    data::Batch batch;
    while (loader.next(batch)) {
      const auto f = model.features(batch.images.to(device)).to(torch::kCPU);
      for (size_t r = 0; r < batch.indices.size(); ++r) rows_[batch.indices[r]] = f[static_cast<int64_t>(r)].clone();
    }
  }
  std::vector<torch::Tensor> rows;
  rows.reserve(indices.size());
  for (size_t i : indices) rows.push_back(rows_.at(i));
  return torch::stack(rows);
}

int64_t FeatureCache::computed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(rows_.size());
}

}  // namespace aft::methods
