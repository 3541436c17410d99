// What an evaluation pass measures beyond accuracy: top-5 accuracy, per-class accuracy, the
// confusion matrix and the expected calibration error (15 equal-width confidence bins, as
// Guo et al. 2017). Accumulated batch by batch from logits and labels.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace aft::train {

class ClassificationMetrics {
 public:
  static constexpr int64_t kBins = 15;
  // `logits` [N, C] (any device and float type), `labels` [N].
  void add(const torch::Tensor& logits, const torch::Tensor& labels);
  int64_t samples() const { return samples_; }
  double accuracy() const;
  double top5_accuracy() const;  // top-min(5, C)
  double expected_calibration_error() const;
  // Rows: true class; columns: predicted class.
  const std::vector<std::vector<int64_t>>& confusion() const { return confusion_; }
  std::vector<double> per_class_accuracy() const;  // NaN-free: a class without samples gets -1
  // {"top5_accuracy", "ece", "per_class_accuracy", "confusion", "samples"}
  nlohmann::json to_json() const;

 private:
  int64_t samples_ = 0, top5_correct_ = 0;
  std::vector<std::vector<int64_t>> confusion_;
  std::vector<double> bin_confidence_ = std::vector<double>(kBins, 0.0);
  std::vector<int64_t> bin_correct_ = std::vector<int64_t>(kBins, 0), bin_count_ = std::vector<int64_t>(kBins, 0);
};

}  // namespace aft::train
