// lp-ft: the probe stage against the same SGD in PyTorch (tools/probe_reference.py), and the
// whole method: fine-tuning starts from the probe's head and a resumed run does not probe again.
#include "aft/methods/lp_ft.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/fs.h"
#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

TEST(LpFt, ProbeMatchesPyTorchSgd) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const std::string dir = aft::data::testing::temp_dir("lp_ft_probe");
  torch::manual_seed(2);
  const int64_t n = 45, d = 12, classes = 4, epochs = 3, batch = 8;
  const auto x = torch::randn({n, d});
  const auto y = torch::randint(0, classes, {n}, torch::kInt64);
  const auto w0 = torch::randn({classes, d}) * 0.1, b0 = torch::randn({classes}) * 0.1;
  const double lr = 0.2, momentum = 0.9, wd = 5e-4, smoothing = 0.1;
  const uint64_t seed = 7;
  const auto probe = aft::methods::train_probe(x, y, w0, b0, epochs, batch, lr, momentum, wd, smoothing, seed);
  // The visiting orders train_probe documents, for the reference to follow.
  std::vector<torch::Tensor> orders;
  for (int64_t e = 0; e < epochs; ++e) {
    torch::manual_seed(seed + e);
    orders.push_back(torch::randperm(n, torch::kInt64));
  }
  aft::safetensors::write(dir + "/in.safetensors",
                          {{"features", x}, {"labels", y}, {"weight", w0}, {"bias", b0}, {"orders", torch::stack(orders)},
                           {"hyper", torch::tensor({double(batch), lr, momentum, wd, smoothing}, torch::kFloat64)}});
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/probe_reference.py " + dir +
                          "/in.safetensors " + dir + "/out.safetensors";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = aft::safetensors::read(dir + "/out.safetensors").tensors;
  EXPECT_TRUE(torch::allclose(probe.weight, ref.at("weight"), 1e-4, 1e-5))
      << (probe.weight - ref.at("weight")).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(probe.bias, ref.at("bias"), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(probe.weight, w0)) << "the probe did not train";
}

TEST(LpFt, FineTuningStartsFromTheProbesHead) {
  const auto task = aft::testing::tiny_task();
  auto options = aft::testing::tiny_options(1);
  const auto& info = aft::methods::find_method("lp-ft");
  auto method_options = info.make_options();
  auto method = info.create(*method_options);
  aft::methods::PrepareContext context;
  context.fresh_model = [] { return aft::testing::tiny_resnet(3, 7); };
  context.data = &task;
  context.train_options = &options;
  context.quiet = true;
  method->prepare(context);
  const auto state = method->prepared_state();
  const auto report = method->report();
  EXPECT_EQ(report.at("probe_train_images").get<int64_t>(), static_cast<int64_t>(task.splits.train_indices.size()));
  EXPECT_GT(report.at("probe_train_accuracy").get<double>(), 0.5) << "colour classes are linearly separable";
  auto model = context.fresh_model();
  const auto fresh_head = model->named_parameters()["fc.weight"].clone();
  method->attach(model);
  const auto head = model->named_parameters()["fc.weight"];
  EXPECT_FALSE(torch::equal(head, fresh_head));
  // Every parameter fine-tunes in the second stage.
  int64_t trainable = 0;
  for (const auto& g : method->param_groups()) trainable += static_cast<int64_t>(g.params.size());
  EXPECT_EQ(trainable, static_cast<int64_t>(model->parameters().size()));
  // A resumed run takes the head back from prepared.json instead of probing again.
  auto restored = info.create(*method_options);
  restored->restore_prepared(state, context);
  auto other = context.fresh_model();
  restored->attach(other);
  EXPECT_TRUE(torch::allclose(other->named_parameters()["fc.weight"], head, 0, 1e-7));
}

}  // namespace
