// oft: R is orthogonal, the model starts as the pretrained one, the Cayley transform and the
// block-diagonal product match a direct PyTorch computation (tools/peft_reference.py), only Q
// and the head train, and merged weights give the adapted model's logits.
#include "aft/methods/oft.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"
#include "tests/methods/adapter_test_util.h"

namespace {

using aft::methods::AdapterMethod;
using aft::methods::OftAdapter;
using namespace aft::testing;

torch::Tensor logits_of(AdapterMethod& method, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  method.set_training(false);
  return method.predict(x);
}

TEST(Oft, RotationIsOrthogonal) {
  torch::manual_seed(1);
  const auto q = torch::randn({4, 6, 6});
  const auto r = aft::methods::cayley(q);
  const auto eye = torch::eye(6).expand({4, 6, 6});
  EXPECT_TRUE(torch::allclose(torch::matmul(r.transpose(-2, -1), r), eye, 0, 1e-5));
  EXPECT_GT((r - eye).abs().max().item<double>(), 0.1) << "a random Q must rotate";
  EXPECT_TRUE(torch::allclose(aft::methods::cayley(torch::zeros({2, 3, 3})), torch::eye(3).expand({2, 3, 3})));
  // An orthogonal R W keeps W's Gram matrix W^T W: angles and norms of the neurons' inputs.
  auto method = make_adapter_method("oft", {{"targets", "layer3.0.conv2"}});
  method->attach(tiny_resnet());
  perturb_adapters(*method, 0.5);
  const auto& w = method->adapted().at(0);
  const auto base = w.base.flatten(1), adapted = method->adapted_weight(w).detach().flatten(1);
  EXPECT_TRUE(torch::allclose(adapted.t().mm(adapted), base.t().mm(base), 1e-4, 1e-5));
  EXPECT_GT((adapted - base).abs().max().item<double>(), 1e-3);
}

TEST(Oft, StartsAsThePretrainedModel) {
  for (auto model : {tiny_resnet(3, 1), tiny_vit(3, 1)}) {
    torch::NoGradGuard no_grad;
    model->eval();
    const auto x = torch::rand({2, 3, 16, 16});
    const auto before = model->forward(x);
    auto method = make_adapter_method("oft");
    method->attach(model);
    EXPECT_TRUE(torch::allclose(logits_of(*method, x), before, 1e-5, 1e-6)) << model->config().arch;
  }
}

TEST(Oft, CayleyMatchesPyTorch) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const std::string dir = aft::data::testing::temp_dir("oft_cayley");
  // ViT's packed in-projection [576, 192]: 4 blocks of 144 rows, crossing the q/k/v boundaries.
  auto method = make_adapter_method("oft", {{"blocks", 4}, {"targets", "encoder.layers.encoder_layer_2.self_attention.in_proj"}});
  method->attach(tiny_vit());
  ASSERT_EQ(method->adapted().size(), 1u);
  perturb_adapters(*method, 0.1);
  const auto& w = method->adapted()[0];
  const auto q = static_cast<const OftAdapter&>(*w.adapter).q.detach();
  EXPECT_EQ(q.sizes().vec(), (std::vector<int64_t>{4, 144, 144}));
  aft::safetensors::write(dir + "/in.safetensors", {{"q", q}, {"weight", w.base.detach()}});
  ASSERT_TRUE(peft_reference("cayley " + dir + "/in.safetensors " + dir + "/out.safetensors"));
  const auto ref = aft::safetensors::read(dir + "/out.safetensors").tensors;
  const auto r = aft::methods::cayley(q);
  EXPECT_TRUE(torch::allclose(r, ref.at("r"), 1e-4, 1e-5)) << (r - ref.at("r")).abs().max().item<double>();
  const auto adapted = method->adapted_weight(w).detach();
  EXPECT_TRUE(torch::allclose(adapted, ref.at("adapted"), 1e-4, 1e-5))
      << (adapted - ref.at("adapted")).abs().max().item<double>();
}

TEST(Oft, OnlyQAndHeadTrain) {
  const auto task = tiny_task();
  auto options = tiny_options(1);
  options.weight_decay = 0;
  auto method = make_adapter_method("oft", {{"blocks", 2}});
  method->attach(tiny_resnet(3, 2));
  auto before = aft::models::state_dict(*method->model());
  for (auto& [k, v] : before) v = v.clone();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer trainer(*method, options, task, hooks);
  method->set_training(true);
  torch::manual_seed(3);
  trainer.step(torch::rand({8, 3, 16, 16}), torch::randint(0, 3, {8}, torch::kInt64), 0, 0);
  const auto after = aft::models::state_dict(*method->model());
  for (const auto& [name, value] : before) {
    const bool trains = name.rfind("oft.", 0) == 0 || name.rfind("fc.", 0) == 0;
    EXPECT_EQ(!torch::equal(after.at(name), value), trains) << name;
  }
}

TEST(Oft, MergedWeightsGiveTheSameLogits) {
  for (auto model : {tiny_resnet(3, 5), tiny_vit(3, 5)}) {
    auto method = make_adapter_method("oft");
    method->attach(model);
    perturb_adapters(*method, 0.05);
    const auto x = torch::rand({3, 3, 16, 16});
    const auto adapted = logits_of(*method, x);
    auto plain = aft::models::build_model(model->config());
    aft::models::load_state_dict(*plain, plain_state(*method), {}, "unmerged");
    plain->eval();
    torch::NoGradGuard no_grad;
    EXPECT_GT((plain->forward(x) - adapted).abs().max().item<double>(), 1e-4) << "the rotations changed nothing";
    method->merge();
    aft::models::load_state_dict(*plain, plain_state(*method), {}, "merged");
    EXPECT_TRUE(torch::allclose(plain->forward(x), adapted, 1e-4, 1e-5))
        << model->config().arch << ": " << (plain->forward(x) - adapted).abs().max().item<double>();
  }
}

TEST(Oft, BlocksMustDivideEveryTarget) {
  auto method = make_adapter_method("oft", {{"blocks", 5}});
  try {
    method->attach(tiny_vit());
    FAIL() << "192 outputs in 5 blocks were accepted";
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--blocks 5"), std::string::npos) << e.what();
  }
}

}  // namespace
