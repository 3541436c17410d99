// delta: the pull against a direct computation in PyTorch (tools/regularizer_reference.py),
// the channel attention against torchvision with forward hooks, the layer choice, the
// training step (alpha 0 is fine-tuning with a head L2; otherwise the pull is towards the
// pretrained maps), and a resumed run taking the attention back instead of measuring again.
#include "aft/methods/delta.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/methods/delta_attention.h"
#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::PulledLayer;

std::map<std::string, torch::Tensor> reference(const std::string& mode, const std::string& dir,
                                               const std::map<std::string, torch::Tensor>& in,
                                               const std::string& args = "") {
  aft::safetensors::write(dir + "/in.safetensors", in);
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/regularizer_reference.py " +
                          mode + " " + dir + "/in.safetensors " + dir + "/out.safetensors " + args;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return aft::safetensors::read(dir + "/out.safetensors").tensors;
}

TEST(DeltaPenalty, MatchesPyTorch) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const std::string dir = aft::data::testing::temp_dir("delta_penalty");
  torch::manual_seed(4);
  // A conv map with attention weights and a token map with every channel weighing 1.
  std::vector<torch::Tensor> target = {torch::randn({3, 4, 5, 5}).requires_grad_(true),
                                       torch::randn({3, 6, 5}).requires_grad_(true)};
  std::vector<torch::Tensor> source = {torch::randn({3, 4, 5, 5}), torch::randn({3, 6, 5})};
  std::vector<torch::Tensor> weights = {torch::rand({4}) * 2, torch::Tensor()};
  const auto penalty = aft::methods::feature_map_penalty(target, source, weights);
  penalty.backward();
  const auto ref = reference("delta", dir,
                             {{"target.0", target[0].detach()}, {"source.0", source[0]}, {"weight.0", weights[0]},
                              {"target.1", target[1].detach()}, {"source.1", source[1]}, {"weight.1", torch::ones({5})}});
  EXPECT_NEAR(penalty.item<double>(), ref.at("penalty").item<double>(), 1e-4 * ref.at("penalty").item<double>());
  EXPECT_GT(penalty.item<double>(), 0.1);
  for (int l = 0; l < 2; ++l) {
    EXPECT_TRUE(torch::allclose(target[l].grad(), ref.at("grad." + std::to_string(l)), 1e-4, 1e-6)) << "layer " << l;
  }
}

TEST(DeltaAttention, MatchesTorchvisionWithHooks) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torchvision";
  const std::string dir = aft::data::testing::temp_dir("delta_attention");
  torch::manual_seed(6);
  aft::models::ModelConfig c;
  c.arch = "resnet18";
  c.stem = "small";
  c.num_classes = 3;
  c.image_size = 8;
  auto model = aft::models::build_model(c);
  {
    // Away from fresh batch norms (weight 1, bias 0), so the channels differ in importance.
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      if (p.key().find("bn") != std::string::npos) p.value().uniform_(0.5, 1.5);
    }
  }
  const auto layers = aft::methods::pulled_layers(*model, "layer1.1,layer2.0");
  ASSERT_EQ(layers.size(), 2u);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> batches;
  std::map<std::string, torch::Tensor> in;
  for (int b = 0; b < 2; ++b) {
    batches.emplace_back(torch::randn({4, 3, 8, 8}), torch::randint(0, 3, {4}, torch::kInt64));
    in["images." + std::to_string(b)] = batches.back().first;
    in["labels." + std::to_string(b)] = batches.back().second;
  }
  for (const auto& p : model->named_parameters()) in["model." + p.key()] = p.value().detach();
  for (const auto& b : model->named_buffers()) in["model." + b.key()] = b.value();
  const auto rise = aft::methods::channel_loss_rise(*model, layers, batches);
  const auto ref = reference("attention", dir, in, "layer1.1 layer2.0");
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto ref_rise = ref.at("rise." + std::to_string(l));
    ASSERT_EQ(rise[l].numel(), ref_rise.numel());
    EXPECT_TRUE(torch::allclose(rise[l], ref_rise, 1e-3, 2e-5)) << (rise[l] - ref_rise).abs().max().item<double>();
    EXPECT_GT(rise[l].std().item<double>(), 1e-4) << "zeroing channels must matter";
    const auto attention = aft::methods::attention_from_rise(rise[l]);
    EXPECT_TRUE(torch::allclose(attention, ref.at("attention." + std::to_string(l)), 1e-3, 1e-6));
    EXPECT_NEAR(attention.sum().item<double>(), 1.0, 1e-5);
  }
  // Channels that all matter alike get uniform weights, not a division by zero.
  EXPECT_TRUE(torch::allclose(aft::methods::attention_from_rise(torch::full({4}, 0.3)), torch::full({4}, 0.25)));
}

TEST(DeltaLayers, StagesBlocksAndNames) {
  const auto resnet = aft::testing::tiny_resnet();
  const auto stages = aft::methods::pulled_layers(*resnet, "stages");
  std::vector<std::string> names;
  for (const auto& l : stages) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"layer1.1", "layer2.1", "layer3.1", "layer4.1"}));
  EXPECT_EQ(stages.back().piece, resnet->piece_count() - 1);
  EXPECT_EQ(aft::methods::pulled_layers(*resnet, "blocks").size(), 8u);
  try {
    aft::methods::pulled_layers(*resnet, "layer9.0");
    ADD_FAILURE() << "an unknown block was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("layer4.1"), std::string::npos) << e.what();
  }
  aft::models::ModelConfig c;
  c.arch = "vit_ti_4";
  c.image_size = 8;
  c.num_classes = 3;
  auto vit = aft::models::build_model(c);
  const auto quarters = aft::methods::pulled_layers(*vit, "stages");
  ASSERT_EQ(quarters.size(), 4u);
  EXPECT_EQ(quarters.front().piece, 3);  // encoder layer 2 of 12; piece 0 is the embedding
  EXPECT_EQ(quarters.back().piece, vit->piece_count() - 1);
  // Maps come from the same forward as the logits: token maps [N, T, D], logits unchanged.
  vit->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 8, 8});
  std::vector<torch::Tensor> maps;
  const auto logits = aft::methods::forward_with_maps(*vit, x, quarters, maps);
  ASSERT_EQ(maps.size(), 4u);
  EXPECT_EQ(maps[0].dim(), 3);
  EXPECT_TRUE(torch::allclose(logits, vit->forward(x), 1e-5, 1e-6));
}

aft::methods::PrepareContext context_for(const aft::train::TrainData* task, const aft::train::TrainOptions* options) {
  aft::methods::PrepareContext context;
  context.fresh_model = [] { return aft::testing::tiny_resnet(3, 7); };
  context.data = task;
  context.train_options = options;
  context.quiet = true;
  return context;
}

TEST(Delta, AlphaZeroIsFineTuningWithHeadL2) {
  const auto& info = aft::methods::find_method("delta");
  auto options = info.make_options();
  auto& d = dynamic_cast<aft::methods::DeltaOptions&>(*options);
  d.alpha = 0;
  d.beta = 0.3;
  d.attention = "off";
  auto method = info.create(*options);
  auto context = context_for(nullptr, nullptr);
  method->prepare(context);
  auto model = aft::testing::tiny_resnet(3, 7);
  auto plain = aft::testing::tiny_resnet(3, 7);
  method->attach(model);
  for (const auto& g : method->param_groups()) EXPECT_EQ(g.weight_decay, 0.0) << "the head L2 replaces weight decay";
  torch::manual_seed(1);
  const auto x = torch::randn({6, 3, 16, 16});
  const auto y = torch::randint(0, 3, {6}, torch::kInt64);
  const aft::methods::LossFn ce = [](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(logits, labels);
  };
  const auto loss = method->train_step(x, y, ce).loss;
  loss.backward();
  auto expected = ce(plain->forward(x), y);
  for (auto& p : plain->named_parameters()) {
    if (aft::models::is_head_param(*plain, p.key())) expected = expected + 0.5 * 0.3 * p.value().pow(2).sum();
  }
  expected.backward();
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-5);
  auto ours = model->named_parameters();
  for (auto& p : plain->named_parameters()) {
    EXPECT_TRUE(torch::allclose(ours[p.key()].grad(), p.value().grad(), 1e-4, 1e-6)) << p.key();
  }
}

TEST(Delta, TrainStepPullsTowardsThePretrainedMapsWithTheAttention) {
  const auto& info = aft::methods::find_method("delta");
  auto options = info.make_options();
  auto& d = dynamic_cast<aft::methods::DeltaOptions&>(*options);
  d.alpha = 0.7;
  d.beta = 0;
  auto method = info.create(*options);
  // An attention of our own, through the resume path, so the weights in the pull are known.
  auto model = aft::testing::tiny_resnet(3, 7);
  const auto layers = aft::methods::pulled_layers(*model, "stages");
  torch::manual_seed(8);
  nlohmann::json state = {{"layers", nlohmann::json::array()}, {"attention", nlohmann::json::array()},
                          {"rise", nlohmann::json::array()}, {"report", nlohmann::json::object()}};
  std::vector<torch::Tensor> weights;
  for (const auto& l : layers) {
    const int64_t channels = model->named_parameters()[l.name + ".conv2.weight"].size(0);
    const auto a = torch::softmax(torch::randn({channels}, torch::kFloat64), 0);
    state["layers"].push_back(l.name);
    state["attention"].push_back(std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + channels));
    state["rise"].push_back(std::vector<double>(channels, 0.0));
    weights.push_back(a.to(torch::kFloat32) * static_cast<double>(channels));
  }
  auto context = context_for(nullptr, nullptr);
  method->restore_prepared(state, context);
  method->attach(model);
  model->eval();  // batch statistics would differ from the frozen source's running ones
  const auto x = torch::randn({4, 3, 16, 16});
  const auto y = torch::randint(0, 3, {4}, torch::kInt64);
  const aft::methods::LossFn ce = [](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(logits, labels);
  };
  // At the pretrained weights the pull is zero.
  EXPECT_NEAR(method->train_step(x, y, ce).loss.item<double>(), ce(model->forward(x), y).item<double>(), 1e-6);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  auto pretrained = aft::testing::tiny_resnet(3, 7);
  pretrained->eval();
  std::vector<torch::Tensor> now, before;
  torch::NoGradGuard no_grad;
  aft::methods::forward_with_maps(*model, x, layers, now);
  aft::methods::forward_with_maps(*pretrained, x, layers, before);
  const double pull = aft::methods::feature_map_penalty(now, before, weights).item<double>();
  const double uniform = aft::methods::feature_map_penalty(now, before, std::vector<torch::Tensor>(layers.size())).item<double>();
  EXPECT_GT(std::abs(pull - uniform), 1e-4 * uniform) << "the attention must change the pull";
  const double expected = ce(model->forward(x), y).item<double>() + 0.7 * pull;
  EXPECT_NEAR(method->train_step(x, y, ce).loss.item<double>(), expected, 1e-6 * expected);
}

TEST(Delta, ResumeTakesTheAttentionBack) {
  const auto task = aft::testing::tiny_task();
  auto train = aft::testing::tiny_options(1);
  const auto& info = aft::methods::find_method("delta");
  auto options = info.make_options();
  auto& d = dynamic_cast<aft::methods::DeltaOptions&>(*options);
  d.attention_epochs = 3;
  d.attention_batches = 2;
  auto method = info.create(*options);
  auto context = context_for(&task, &train);
  method->prepare(context);
  auto state = method->prepared_state();
  ASSERT_FALSE(state.is_null());
  const std::vector<int64_t> channels = {8, 16, 32, 64};  // tiny_resnet's stages
  ASSERT_EQ(state.at("attention").size(), channels.size());
  for (size_t l = 0; l < channels.size(); ++l) {
    const auto a = state.at("attention")[l].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(a.size()), channels[l]);
    double sum = 0;
    for (double v : a) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  EXPECT_EQ(method->report().at("attention_measurement").at("attention_batches").get<int64_t>(), 2);
  // A resumed run has no data to measure on here; it must take the (altered) attention back.
  state["attention"][0][0] = 0.5;
  auto resumed = info.create(*options);
  auto no_data = context_for(nullptr, nullptr);
  ASSERT_NO_THROW(resumed->restore_prepared(state, no_data));
  EXPECT_DOUBLE_EQ(resumed->prepared_state().at("attention")[0][0].get<double>(), 0.5);
  // Another layer choice than the one measured is refused, naming the file.
  d.layers = "blocks";
  auto other = info.create(*options);
  try {
    other->restore_prepared(state, no_data);
    ADD_FAILURE() << "attention for other layers was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("prepared.json"), std::string::npos) << e.what();
  }
}

}  // namespace
