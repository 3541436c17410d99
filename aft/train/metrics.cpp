#include "aft/train/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "aft/core/error.h"

namespace aft::train {

void ClassificationMetrics::add(const torch::Tensor& logits_in, const torch::Tensor& labels_in) {
  const auto logits = logits_in.detach().to(torch::kCPU, torch::kFloat64);
  const auto labels = labels_in.detach().to(torch::kCPU, torch::kInt64).contiguous();
  check(logits.dim() == 2 && logits.size(0) == labels.size(0), "metrics: logits ", logits.sizes(), " for ",
        labels.size(0), " labels");
  const int64_t n = logits.size(0), classes = logits.size(1);
  if (confusion_.empty()) confusion_.assign(classes, std::vector<int64_t>(classes, 0));
  check(static_cast<int64_t>(confusion_.size()) == classes, "metrics: ", classes, " classes after ", confusion_.size());
  const auto probs = torch::softmax(logits, 1);
  const auto best = probs.max(1);
  const auto confidence = std::get<0>(best).contiguous(), predicted = std::get<1>(best).contiguous();
  const auto top = std::get<1>(logits.topk(std::min<int64_t>(5, classes), 1)).contiguous();
  const auto conf = confidence.accessor<double, 1>();
  const auto pred = predicted.accessor<int64_t, 1>();
  const auto top_k = top.accessor<int64_t, 2>();
  const auto* label = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = label[i], p = pred[i];
    check(y >= 0 && y < classes, "metrics: label ", y, " outside the ", classes, " classes");
    ++confusion_[y][p];
    for (int64_t k = 0; k < top_k.size(1); ++k) {
      if (top_k[i][k] == y) {
        ++top5_correct_;
        break;
      }
    }
    // Bins (b/15, (b+1)/15]; a softmax confidence is never 0.
    const int64_t bin = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(conf[i] * kBins)) - 1, 0, kBins - 1);
    bin_confidence_[bin] += conf[i];
    bin_correct_[bin] += p == y ? 1 : 0;
    ++bin_count_[bin];
  }
  samples_ += n;
}

double ClassificationMetrics::accuracy() const {
  int64_t correct = 0;
  for (size_t c = 0; c < confusion_.size(); ++c) correct += confusion_[c][c];
  return samples_ > 0 ? static_cast<double>(correct) / samples_ : 0.0;
}

double ClassificationMetrics::top5_accuracy() const {
  return samples_ > 0 ? static_cast<double>(top5_correct_) / samples_ : 0.0;
}

double ClassificationMetrics::expected_calibration_error() const {
  double ece = 0;
  for (int64_t b = 0; b < kBins; ++b) {
    if (bin_count_[b] == 0) continue;
    const double accuracy = static_cast<double>(bin_correct_[b]) / bin_count_[b];
    const double confidence = bin_confidence_[b] / bin_count_[b];
    ece += std::abs(accuracy - confidence) * bin_count_[b] / samples_;
  }
  return ece;
}

std::vector<double> ClassificationMetrics::per_class_accuracy() const {
  std::vector<double> out;
  for (size_t c = 0; c < confusion_.size(); ++c) {
    int64_t total = 0;
    for (auto v : confusion_[c]) total += v;
    out.push_back(total > 0 ? static_cast<double>(confusion_[c][c]) / total : -1.0);
  }
  return out;
}

nlohmann::json ClassificationMetrics::to_json() const {
  return {{"samples", samples_},
          {"top5_accuracy", top5_accuracy()},
          {"ece", expected_calibration_error()},
          {"per_class_accuracy", per_class_accuracy()},
          {"confusion", confusion_}};
}

}  // namespace aft::train
