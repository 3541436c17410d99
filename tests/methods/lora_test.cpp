// lora: the model starts as the pretrained one; only the adapters and the head train; a layer's
// output equals W x + (alpha/r) B A x run as a side path in PyTorch (tools/peft_reference.py);
// the trainable share on ViT-Tiny; merged weights give the same logits, in aft and in torchvision.
#include "aft/methods/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"
#include "tests/methods/adapter_test_util.h"

namespace {

using aft::methods::AdapterMethod;
using aft::methods::LoraAdapter;
using namespace aft::testing;

torch::Tensor logits_of(AdapterMethod& method, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  method.set_training(false);
  return method.predict(x);
}

TEST(Lora, StartsAsThePretrainedModel) {
  for (auto model : {tiny_resnet(3, 1), tiny_vit(3, 1)}) {
    torch::NoGradGuard no_grad;
    model->eval();
    const auto x = torch::rand({2, 3, 16, 16});
    const auto before = model->forward(x);
    auto method = make_adapter_method("lora");
    method->attach(model);
    EXPECT_TRUE(torch::equal(logits_of(*method, x), before)) << model->config().arch;
  }
  // auto targets: ViT, 4 projections in each of 12 blocks; ResNet-18, 2 convs in each of 8
  // blocks and 3 downsample convs, never the stem.
  auto vit = make_adapter_method("lora");
  vit->attach(tiny_vit());
  EXPECT_EQ(vit->adapted().size(), 48u);
  auto resnet = make_adapter_method("lora");
  resnet->attach(tiny_resnet());
  EXPECT_EQ(resnet->adapted().size(), 19u);
  for (const auto& w : resnet->adapted()) EXPECT_NE(w.path, "conv1");
}

TEST(Lora, OnlyAdaptersAndHeadTrain) {
  const auto task = tiny_task();
  auto options = tiny_options(1);
  options.weight_decay = 0;
  auto method = make_adapter_method("lora", {{"rank", 2}});
  method->attach(tiny_resnet(3, 2));
  auto before = aft::models::state_dict(*method->model());
  for (auto& [k, v] : before) v = v.clone();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer trainer(*method, options, task, hooks);
  method->set_training(true);
  torch::manual_seed(3);
  const auto images = torch::rand({8, 3, 16, 16});
  const auto labels = torch::randint(0, 3, {8}, torch::kInt64);
  const auto changed = [&](const std::string& name) {
    return !torch::equal(aft::models::state_dict(*method->model()).at(name), before.at(name));
  };
  trainer.step(images, labels, 0, 0);
  // B starts at zero, so A's gradient is zero on the first step: B and the head move first.
  for (const auto& [name, value] : before) {
    const bool is_b = name.find("lora_B") != std::string::npos;
    const bool is_head = name.rfind("fc.", 0) == 0;
    EXPECT_EQ(changed(name), is_b || is_head) << name;  // base weights and BN statistics stay
  }
  trainer.step(images, labels, 0, 1);
  for (const auto& [name, value] : before) {
    const bool adapter = name.rfind("lora.", 0) == 0;
    EXPECT_EQ(changed(name), adapter || name.rfind("fc.", 0) == 0) << name;
  }
}

TEST(Lora, LayersMatchThePyTorchSidePath) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const std::string dir = aft::data::testing::temp_dir("lora_layers");
  // A 3x3 stride-2 conv (the low-rank conv pair), a 1x1 stride-2 downsample, a ViT MLP linear.
  struct Case {
    std::string arch, path;
    torch::Tensor x;
  };
  torch::manual_seed(4);
  const std::vector<Case> cases = {{"resnet18", "layer2.0.conv1", torch::randn({2, 8, 8, 8})},
                                   {"resnet18", "layer2.0.downsample.0", torch::randn({2, 8, 8, 8})},
                                   {"vit_ti_4", "encoder.layers.encoder_layer_5.mlp.0", torch::randn({2, 5, 192})}};
  for (const auto& c : cases) {
    auto method = make_adapter_method("lora", {{"rank", 3}, {"alpha", 6.0}, {"targets", c.path}});
    method->attach(c.arch == "resnet18" ? tiny_resnet() : tiny_vit());
    ASSERT_EQ(method->adapted().size(), 1u);
    perturb_adapters(*method, 0.3);
    method->refresh();
    const auto& w = method->adapted()[0];
    const auto& lora = static_cast<const LoraAdapter&>(*w.adapter);
    torch::Tensor y;
    std::map<std::string, torch::Tensor> in = {{"x", c.x},
                                               {"weight", w.base},
                                               {"lora_A", lora.a},
                                               {"lora_B", lora.b},
                                               {"scale", torch::tensor({2.0})}};
    auto layer = method->model()->named_modules()[c.path];
    torch::NoGradGuard no_grad;
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(layer.get())) {
      y = conv->forward(c.x);
      in["stride"] = torch::tensor({double(conv->options.stride()->at(0))});
      // ResNet pads every k x k conv by k / 2 (the options hold the padding in a variant whose
      // type differs between LibTorch versions).
      in["padding"] = torch::tensor({double(w.base.size(-1) / 2)});
    } else {
      // The bias is the layer's own, not the adapter's: compare without it.
      auto* linear = dynamic_cast<torch::nn::LinearImpl*>(layer.get());
      ASSERT_NE(linear, nullptr);
      y = linear->forward(c.x) - linear->bias;
    }
    aft::safetensors::write(dir + "/in.safetensors", in);
    ASSERT_TRUE(peft_reference("lora " + dir + "/in.safetensors " + dir + "/out.safetensors"));
    const auto ref = aft::safetensors::read(dir + "/out.safetensors").tensors.at("y");
    EXPECT_TRUE(torch::allclose(y, ref, 1e-4, 1e-4)) << c.path << ": " << (y - ref).abs().max().item<double>();
    // The adapter moved the output: a comparison of base layers alone would have failed.
    const auto base_only = y.dim() == 4 ? torch::conv2d(c.x, w.base, {}, in["stride"].item<int64_t>(),
                                                        in["padding"].item<int64_t>())
                                        : torch::linear(c.x, w.base);
    EXPECT_GT((base_only - ref).abs().max().item<double>(), 1e-2) << c.path;
  }
}

TEST(Lora, TrainsUnderTenPercentOfViTTiny) {
  auto method = make_adapter_method("lora");
  method->attach(tiny_vit(10));
  int64_t trainable = 0;
  for (const auto& g : method->param_groups()) {
    for (const auto& p : g.params) trainable += p.numel();
  }
  const int64_t total = aft::methods::count_params(*method->model(), false);
  // Per block at rank 8: in_proj 8 (192 + 576), out_proj 8 (192 + 192), fc1 and fc2 8 (192 + 768);
  // plus the 10-class head.
  const int64_t per_block = 8 * (192 + 576) + 8 * (192 + 192) + 2 * 8 * (192 + 768);
  EXPECT_EQ(trainable, 12 * per_block + 192 * 10 + 10);
  const double fraction = static_cast<double>(trainable) / static_cast<double>(total);
  std::cout << "lora rank 8 on vit_ti_4: " << trainable << " of " << total << " parameters train (" << 100 * fraction
            << "%)" << std::endl;
  EXPECT_LT(fraction, 0.10);
}

TEST(Lora, AdaptersSitInTheLayerOfTheirWeight) {
  auto method = make_adapter_method("lora");
  method->attach(tiny_resnet());
  const auto layers = method->layers();
  // The stem, 8 residual blocks, the head; --layer-decay scales each adapter as its block.
  ASSERT_EQ(layers.size(), 10u);
  const auto layer_of = [&](const torch::Tensor& t) {
    int found = -1, count = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      for (const auto& p : layers[i]) {
        if (p.unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) found = static_cast<int>(i), ++count;
      }
    }
    EXPECT_EQ(count, 1);
    return found;
  };
  for (const auto& w : method->adapted()) {
    const int home = layer_of(w.base);
    EXPECT_GT(home, 0) << w.path;
    for (const auto& p : w.adapter->parameters()) EXPECT_EQ(layer_of(p), home) << w.path;
  }
}

TEST(Lora, TargetsTakeUnitsLayerNamesAndRegexes) {
  const auto count = [](const std::string& targets) {
    auto method = make_adapter_method("lora", {{"targets", targets}});
    method->attach(tiny_vit());
    return method->adapted().size();
  };
  EXPECT_EQ(count("out_proj"), 12u);
  EXPECT_EQ(count("encoder.layers.encoder_layer_0.attn"), 2u);  // a block unit: in_proj and out_proj
  EXPECT_EQ(count("encoder.layers.encoder_layer_[0-2]\\.mlp\\.[03]"), 6u);
  EXPECT_EQ(count("out_proj,mlp.0"), 24u);
  EXPECT_THROW(count("no_such_layer"), aft::Error);
  auto resnet = make_adapter_method("lora", {{"targets", "conv1"}});
  resnet->attach(tiny_resnet());
  EXPECT_EQ(resnet->adapted().size(), 9u);  // the stem and the first conv of each of 8 blocks
  EXPECT_THROW(count("heads.head"), aft::Error);  // the head always trains whole, never adapted
}

TEST(Lora, MergedWeightsGiveTheSameLogits) {
  for (auto model : {tiny_resnet(3, 5), tiny_vit(3, 5)}) {
    auto method = make_adapter_method("lora", {{"rank", 4}});
    method->attach(model);
    perturb_adapters(*method);
    const auto x = torch::rand({3, 3, 16, 16});
    const auto adapted = logits_of(*method, x);
    auto plain = aft::models::build_model(model->config());
    aft::models::load_state_dict(*plain, plain_state(*method), {}, "unmerged");
    plain->eval();
    torch::NoGradGuard no_grad;
    EXPECT_GT((plain->forward(x) - adapted).abs().max().item<double>(), 1e-3) << "the adapters changed nothing";
    method->merge();
    aft::models::load_state_dict(*plain, plain_state(*method), {}, "merged");
    EXPECT_TRUE(torch::allclose(plain->forward(x), adapted, 1e-4, 1e-5))
        << model->config().arch << ": " << (plain->forward(x) - adapted).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(logits_of(*method, x), adapted, 1e-4, 1e-5)) << "merge changed the adapted model";
  }
}

TEST(Lora, MergedWeightsLoadIntoTorchvision) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torchvision";
  const std::string dir = aft::data::testing::temp_dir("lora_torchvision");
  // ResNet-18 at width 1 (torchvision has no other), small stem; and ViT-Tiny as torchvision's
  // VisionTransformer class.
  aft::models::ModelConfig resnet;
  resnet.arch = "resnet18";
  resnet.stem = "small";
  resnet.num_classes = 4;
  resnet.image_size = 16;
  torch::manual_seed(6);
  for (auto model : {aft::models::build_model(resnet), tiny_vit(4, 6)}) {
    auto method = make_adapter_method("lora", {{"rank", 4}});
    method->attach(model);
    perturb_adapters(*method, 0.02);
    const auto x = torch::rand({2, 3, 16, 16});
    const auto adapted = logits_of(*method, x);
    method->merge();
    const std::string weights = dir + "/" + model->config().arch + ".safetensors";
    aft::safetensors::write(weights, plain_state(*method), aft::models::model_metadata(*model));
    aft::safetensors::write(dir + "/x.safetensors", {{"input", x}});
    ASSERT_TRUE(peft_reference("torchvision " + weights + " " + dir + "/x.safetensors " + dir + "/y.safetensors"));
    const auto ref = aft::safetensors::read(dir + "/y.safetensors").tensors.at("logits");
    EXPECT_TRUE(torch::allclose(adapted, ref, 1e-3, 1e-4))
        << model->config().arch << ": " << (adapted - ref).abs().max().item<double>();
  }
}

}  // namespace
