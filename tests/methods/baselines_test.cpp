#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/methods/auto_rgn.h"
#include "aft/methods/l2sp.h"
#include "aft/methods/registry.h"
#include "aft/models/weights.h"
#include "tests/train/tiny_task.h"

namespace {

TEST(L2sp, PenaltyAndGradientMatchDirectComputation) {
  auto model = aft::testing::tiny_resnet();
  std::map<std::string, torch::Tensor> w0;
  for (auto& p : model->named_parameters()) w0[p.key()] = p.value().detach().clone();
  aft::methods::L2spOptions options;
  options.alpha = 0.3;
  options.beta = 0.7;
  aft::methods::L2spMethod method(options);
  method.attach(model);
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(5);
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  method.penalty().backward();
  double expected = 0;
  for (auto& p : model->named_parameters()) {
    const bool head = aft::models::is_head_param(*model, p.key());
    const auto w = p.value().detach();
    const auto diff = head ? w : w - w0.at(p.key());
    const double weight = head ? options.beta : options.alpha;
    expected += 0.5 * weight * diff.pow(2).sum().item<double>();
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::allclose(p.value().grad(), weight * diff, 1e-5, 1e-7)) << p.key();
  }
  EXPECT_NEAR(method.penalty().item<double>(), expected, 1e-5 * std::abs(expected) + 1e-9);
}

TEST(AutoRgn, LearningRatesFollowTheFormula) {
  auto model = aft::testing::tiny_resnet();
  aft::methods::AutoRgnMethod method;
  method.attach(model);
  torch::manual_seed(3);
  const auto logits = model->forward(torch::randn({4, 3, 16, 16}));
  torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1, 2, 0})).backward();
  const auto scales = method.normalised_rgn();
  const auto& names = method.names();
  std::vector<double> raw;
  std::vector<bool> bias;
  for (auto& p : model->named_parameters()) {
    // A zero tensor (fresh BN biases) has no defined RGN; the method gives it 0.
    const double w = p.value().detach().norm().item<double>();
    raw.push_back(w > 0 ? p.value().grad().norm().item<double>() / w : 0.0);
    bias.push_back(p.key().size() > 4 && p.key().substr(p.key().size() - 4) == "bias");
  }
  ASSERT_EQ(raw.size(), scales.size());
  for (bool b : {false, true}) {
    double lo = 1e300, hi = -1e300;
    for (size_t i = 0; i < raw.size(); ++i) if (bias[i] == b) { lo = std::min(lo, raw[i]); hi = std::max(hi, raw[i]); }
    for (size_t i = 0; i < raw.size(); ++i) {
      if (bias[i] != b) continue;
      EXPECT_NEAR(scales[i], (raw[i] - lo) / (hi - lo), 1e-6) << names[i];
    }
  }
  EXPECT_NEAR(*std::min_element(scales.begin(), scales.end()), 0.0, 1e-12) << "the lowest RGN gets lr 0";
}

TEST(Registry, UnknownMethodListsValidNames) {
  try {
    aft::methods::find_method("nope");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("full|linear|lp-ft|l2sp|auto-rgn"), std::string::npos) << e.what();
  }
}

}  // namespace
