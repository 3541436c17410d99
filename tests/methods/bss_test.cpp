// bss: the penalty and its gradient against torch.svd in PyTorch (tools/regularizer_reference.py,
// the reference's own formulation), and the training step adding it to the task loss.
#include "aft/methods/bss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

TEST(BssPenalty, MatchesPyTorch) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const std::string dir = aft::data::testing::temp_dir("bss_penalty");
  torch::manual_seed(9);
  // Fewer images than dimensions (the usual case), and more; k beyond the count is capped.
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> cases = {{{6, 10}, 2}, {{12, 5}, 3}, {{3, 4}, 7}};
  std::map<std::string, torch::Tensor> in;
  std::vector<torch::Tensor> features, penalties;
  for (size_t i = 0; i < cases.size(); ++i) {
    features.push_back(torch::randn(cases[i].first).requires_grad_(true));
    penalties.push_back(aft::methods::bss_penalty(features[i], cases[i].second));
    penalties[i].backward();
    in["features." + std::to_string(i)] = features[i].detach();
    in["k." + std::to_string(i)] = torch::tensor({cases[i].second}, torch::kInt64);
  }
  aft::safetensors::write(dir + "/in.safetensors", in);
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/regularizer_reference.py bss " +
                          dir + "/in.safetensors " + dir + "/out.safetensors";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = aft::safetensors::read(dir + "/out.safetensors").tensors;
  for (size_t i = 0; i < cases.size(); ++i) {
    const double expected = ref.at("penalty." + std::to_string(i)).item<double>();
    const auto grad = ref.at("grad." + std::to_string(i));
    EXPECT_NEAR(penalties[i].item<double>(), expected, 1e-4 * expected) << "case " << i;
    EXPECT_GT(penalties[i].item<double>(), 1e-3);
    EXPECT_TRUE(torch::allclose(features[i].grad(), grad, 1e-3, 1e-5))
        << "case " << i << ": " << (features[i].grad() - grad).abs().max().item<double>();
  }
}

TEST(Bss, StepAddsTheWeightedPenalty) {
  const auto& info = aft::methods::find_method("bss");
  auto options = info.make_options();
  auto& o = dynamic_cast<aft::methods::BssOptions&>(*options);
  o.weight = 0.5;
  o.k = 2;
  auto method = info.create(*options);
  auto model = aft::testing::tiny_resnet(3, 7);
  method->attach(model);
  model->eval();  // the same batch statistics for both forwards
  torch::manual_seed(3);
  const auto x = torch::randn({5, 3, 16, 16});
  const auto y = torch::randint(0, 3, {5}, torch::kInt64);
  const aft::methods::LossFn ce = [](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(logits, labels);
  };
  torch::NoGradGuard no_grad;
  const auto out = method->train_step(x, y, ce);
  const auto sigma = std::get<1>(torch::svd(model->features(x)));  // descending
  const double smallest = sigma[sigma.size(0) - 1].pow(2).item<double>() + sigma[sigma.size(0) - 2].pow(2).item<double>();
  EXPECT_GT(smallest, 0);
  EXPECT_NEAR(out.loss.item<double>(), ce(model->forward(x), y).item<double>() + 0.5 * smallest, 1e-5);
  EXPECT_TRUE(torch::allclose(out.logits, model->forward(x), 1e-5, 1e-6));
  int64_t trainable = 0;
  for (const auto& g : method->param_groups()) trainable += static_cast<int64_t>(g.params.size());
  EXPECT_EQ(trainable, static_cast<int64_t>(model->parameters().size()));
}

}  // namespace
