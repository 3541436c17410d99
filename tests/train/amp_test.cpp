// LossScaler (aft/train/amp.h) on CPU tensors: its one fused finiteness check must see a bad
// gradient in any parameter, not only the first, and leave good steps unscaled exactly.
#include "aft/train/amp.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

namespace {

std::vector<torch::Tensor> params_with_grads(const std::vector<std::vector<float>>& grads) {
  std::vector<torch::Tensor> params;
  for (const auto& g : grads) {
    auto p = torch::zeros({static_cast<int64_t>(g.size())}).requires_grad_(true);
    p.mutable_grad() = torch::tensor(g);
    params.push_back(p);
  }
  return params;
}

TEST(LossScaler, DisabledLeavesGradientsAlone) {
  aft::train::LossScaler scaler(false);
  auto params = params_with_grads({{2.0f, std::numeric_limits<float>::infinity()}});
  EXPECT_TRUE(scaler.unscale(params));
  EXPECT_EQ(params[0].grad()[0].item<float>(), 2.0f);
}

TEST(LossScaler, FiniteGradientsAreUnscaled) {
  aft::train::LossScaler scaler(true);
  const double s = scaler.value();
  auto params = params_with_grads({{65536.0f, -131072.0f}, {32768.0f}});
  auto no_grad = torch::zeros({3}).requires_grad_(true);  // a frozen parameter: no gradient
  params.push_back(no_grad);
  EXPECT_TRUE(scaler.unscale(params));
  EXPECT_FLOAT_EQ(params[0].grad()[0].item<float>(), static_cast<float>(65536.0 / s));
  EXPECT_FLOAT_EQ(params[0].grad()[1].item<float>(), static_cast<float>(-131072.0 / s));
  EXPECT_FLOAT_EQ(params[1].grad()[0].item<float>(), static_cast<float>(32768.0 / s));
  EXPECT_FALSE(params[2].grad().defined());
  EXPECT_EQ(scaler.value(), s);
  EXPECT_EQ(scaler.good_steps(), 1);
}

TEST(LossScaler, NonFiniteInAnyParameterSkipsTheStep) {
  for (const float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN()}) {
    for (size_t where = 0; where < 3; ++where) {
      aft::train::LossScaler scaler(true);
      const double s = scaler.value();
      std::vector<std::vector<float>> grads = {{1.0f, 2.0f}, {3.0f}, {4.0f, 5.0f, 6.0f}};
      grads[where].back() = bad;
      auto params = params_with_grads(grads);
      ASSERT_TRUE(scaler.unscale(params_with_grads({{1.0f}})));  // one good step first
      EXPECT_FALSE(scaler.unscale(params)) << "bad value in parameter " << where;
      EXPECT_EQ(scaler.value(), s / 2);
      EXPECT_EQ(scaler.good_steps(), 0);
    }
  }
}

TEST(LossScaler, ScaleDoublesAfterTwoThousandGoodSteps) {
  aft::train::LossScaler scaler(true);
  const double s = scaler.value();
  for (int i = 0; i < 1999; ++i) ASSERT_TRUE(scaler.unscale(params_with_grads({{1.0f}})));
  EXPECT_EQ(scaler.value(), s);
  ASSERT_TRUE(scaler.unscale(params_with_grads({{1.0f}})));
  EXPECT_EQ(scaler.value(), 2 * s);
  EXPECT_EQ(scaler.good_steps(), 0);
}

}  // namespace
