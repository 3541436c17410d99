// Evaluation metrics against a direct computation from the same logits.
#include "aft/train/metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace {

TEST(Metrics, MatchADirectComputation) {
  torch::manual_seed(4);
  const int64_t n = 203, classes = 7;
  const auto logits = torch::randn({n, classes}) * 3;
  const auto labels = torch::randint(0, classes, {n}, torch::kInt64);
  aft::train::ClassificationMetrics m;
  m.add(logits.slice(0, 0, 100), labels.slice(0, 0, 100));  // two batches
  m.add(logits.slice(0, 100), labels.slice(0, 100));

  std::vector<std::vector<int64_t>> confusion(classes, std::vector<int64_t>(classes, 0));
  int64_t top5 = 0, correct = 0;
  std::vector<double> bin_conf(15, 0), bin_n(15, 0), bin_ok(15, 0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> z(classes);
    for (int64_t c = 0; c < classes; ++c) z[c] = logits[i][c].item<double>();
    const double zmax = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double v : z) sum += std::exp(v - zmax);
    std::vector<int64_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return z[a] > z[b]; });
    const int64_t y = labels[i].item<int64_t>(), p = order[0];
    ++confusion[y][p];
    correct += p == y;
    top5 += std::find(order.begin(), order.begin() + 5, y) != order.begin() + 5;
    const double conf = 1.0 / sum;  // exp(zmax - zmax) / sum
    const int bin = std::min(14, std::max(0, static_cast<int>(std::ceil(conf * 15)) - 1));
    bin_conf[bin] += conf, bin_n[bin] += 1, bin_ok[bin] += p == y;
  }
  double ece = 0;
  for (int b = 0; b < 15; ++b) {
    if (bin_n[b] > 0) ece += std::abs(bin_ok[b] / bin_n[b] - bin_conf[b] / bin_n[b]) * bin_n[b] / n;
  }
  EXPECT_EQ(m.samples(), n);
  EXPECT_EQ(m.confusion(), confusion);
  EXPECT_NEAR(m.accuracy(), static_cast<double>(correct) / n, 1e-12);
  EXPECT_NEAR(m.top5_accuracy(), static_cast<double>(top5) / n, 1e-12);
  EXPECT_NEAR(m.expected_calibration_error(), ece, 1e-9);
  const auto per_class = m.per_class_accuracy();
  for (int64_t c = 0; c < classes; ++c) {
    int64_t row = 0;
    for (auto v : confusion[c]) row += v;
    EXPECT_NEAR(per_class[c], static_cast<double>(confusion[c][c]) / row, 1e-12);
  }
  EXPECT_GT(m.top5_accuracy(), m.accuracy());
}

TEST(Metrics, PerfectAndConfidentPredictionsAreCalibrated) {
  // One-hot logits of 50: every prediction right with confidence ~1, so the ECE is ~0.
  const auto labels = torch::tensor({0, 1, 2, 2, 1}, torch::kInt64);
  const auto logits = torch::one_hot(labels, 3).to(torch::kFloat32) * 50;
  aft::train::ClassificationMetrics m;
  m.add(logits, labels);
  EXPECT_EQ(m.accuracy(), 1.0);
  EXPECT_LT(m.expected_calibration_error(), 1e-6);
  EXPECT_EQ(m.top5_accuracy(), 1.0);  // top-3 of 3 classes
  EXPECT_EQ(m.to_json().at("confusion")[2][2], 2);
}

}  // namespace
