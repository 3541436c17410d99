// Partial fine-tuning: the strategies' parameter sets (partial.md's ViT-B/16 counts, ResNet
// refusals), training changes exactly the intended tensors, and a frozen prefix gets no gradient.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <set>

#include "aft/core/error.h"
#include "aft/methods/baselines.h"
#include "aft/methods/partial.h"
#include "aft/models/weights.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::PartialMethod;
using aft::methods::PartialOptions;

aft::models::ModelPtr tiny_vit(int64_t classes = 3, uint64_t seed = 0) {
  torch::manual_seed(seed);
  aft::models::ModelConfig c;
  c.arch = "vit_ti_4";
  c.num_classes = classes;
  c.image_size = 16;
  return aft::models::build_model(c);
}

std::shared_ptr<PartialMethod> strategy_method(const std::string& strategy, bool freeze_bn_stats = false) {
  PartialOptions o;
  o.strategy = strategy;
  o.freeze_bn_stats = freeze_bn_stats;
  return std::make_shared<PartialMethod>(o);
}

int64_t trainable_numel(PartialMethod& method) {
  int64_t n = 0;
  for (const auto& g : method.param_groups()) {
    for (const auto& p : g.params) n += p.numel();
  }
  return n;
}

std::set<std::string> names_with(const aft::models::VisionModel& model, const std::function<bool(const std::string&)>& f) {
  std::set<std::string> out;
  for (const auto& p : model.named_parameters(true)) {
    if (!aft::models::is_head_param(model, p.key()) && f(p.key())) out.insert(p.key());
  }
  return out;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

int block_of(const std::string& name) {  // encoder.layers.encoder_layer_N.… -> N
  const std::string tag = "encoder_layer_";
  const auto at = name.find(tag);
  return at == std::string::npos ? -1 : std::stoi(name.substr(at + tag.size()));
}

TEST(PartialStrategies, VitB16CountsMatchThePaper) {
  aft::models::ModelConfig c;
  c.arch = "vit_b_16";
  c.num_classes = 100;
  auto model = aft::models::build_model(c);
  auto attn = strategy_method("attn");
  attn->attach(model);
  EXPECT_EQ(trainable_numel(*attn), 28443748);  // the paper's 28.44M, head included
  auto ffn = strategy_method("ffn");
  ffn->attach(model);
  EXPECT_EQ(trainable_numel(*ffn), 56764516);  // the paper's 56.76M
}

TEST(PartialStrategies, VitStrategiesSelectTheIntendedTensors) {
  auto model = tiny_vit();
  const auto blocks = model->units(aft::models::UnitLevel::block).size() / 2;
  ASSERT_EQ(blocks, 12u);
  const auto is_attn = [](const std::string& n) { return has(n, ".ln_1.") || has(n, ".self_attention."); };
  const auto is_ffn = [](const std::string& n) { return has(n, ".ln_2.") || has(n, ".mlp."); };
  const auto late = [&](const std::string& n) { return block_of(n) >= 6; };
  const std::map<std::string, std::function<bool(const std::string&)>> expected = {
      {"attn", is_attn},
      {"ffn", is_ffn},
      {"first-half", [&](const std::string& n) { return block_of(n) >= 0 && block_of(n) < 6; }},
      {"last-half", late},
      {"attn-last-half", [&](const std::string& n) { return is_attn(n) && late(n); }},
      {"ffn-last-half", [&](const std::string& n) { return is_ffn(n) && late(n); }},
      {"alternate", [&](const std::string& n) { return block_of(n) >= 0 && block_of(n) % 2 == 0; }},
      {"norm-bias", [&](const std::string& n) { return has(n, "bias") || has(n, "ln"); }},
  };
  ASSERT_EQ(expected.size(), aft::methods::partial_strategies().size());
  for (const auto& [strategy, pick] : expected) {
    auto method = strategy_method(strategy);
    method->attach(model);
    EXPECT_EQ(method->trainable(), names_with(*model, pick)) << strategy;
  }
}

TEST(PartialStrategies, ResnetRefusesAttentionStrategiesAndSplitsBlocks) {
  auto model = aft::testing::tiny_resnet();
  for (const std::string s : {"attn", "ffn", "attn-last-half", "ffn-last-half"}) {
    try {
      strategy_method(s)->attach(model);
      ADD_FAILURE() << s << " was accepted on a ResNet";
    } catch (const aft::Error& e) {
      EXPECT_TRUE(has(e.what(), "has no attention/FFN units")) << e.what();
      EXPECT_TRUE(has(e.what(), s)) << e.what();
    }
  }
  const auto stage = [](const std::string& n) { return n.size() > 6 && n.rfind("layer", 0) == 0 ? n[5] - '0' : 0; };
  const std::map<std::string, std::function<bool(const std::string&)>> expected = {
      {"first-half", [&](const std::string& n) { return stage(n) == 1 || stage(n) == 2; }},
      {"last-half", [&](const std::string& n) { return stage(n) >= 3; }},
      {"alternate", [&](const std::string& n) { return stage(n) > 0 && n[7] == '0'; }},  // layerS.0: blocks 1,3,5,7
      {"norm-bias", [&](const std::string& n) { return has(n, "bn") || has(n, "downsample.1"); }},
  };
  for (const auto& [strategy, pick] : expected) {
    auto method = strategy_method(strategy);
    method->attach(model);
    EXPECT_EQ(method->trainable(), names_with(*model, pick)) << strategy;
  }
}

// Trains one epoch and checks that exactly the method's tensors (and the head) changed while every
// other parameter stayed bit-identical. Frozen batch norms' statistics follow the target data by
// default (the references) and stay bit-identical with --freeze-bn-stats.
void expect_only_trainable_change(aft::models::ModelPtr model, const std::string& strategy,
                                  bool freeze_bn_stats = true) {
  auto before = aft::models::state_dict(*model);
  for (auto& [k, v] : before) v = v.clone();
  auto method = strategy_method(strategy, freeze_bn_stats);
  method->attach(model);
  const auto task = aft::testing::tiny_task();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.run_test = false;
  aft::train::Trainer(*method, aft::testing::tiny_options(1), task, hooks).fit();
  const auto after = aft::models::state_dict(*model);
  const auto bn_of = [](const std::string& key) { return key.substr(0, key.rfind('.')) + ".weight"; };
  for (const auto& [key, tensor] : after) {
    const bool head = aft::models::is_head_param(*model, key);
    // A batch norm's statistics move when its affine parameters train, or always by default.
    const bool statistic = key.find("running_") != std::string::npos || key.find("num_batches") != std::string::npos;
    const bool trains = head || method->trainable().count(key) || method->trainable().count(bn_of(key)) ||
                        (statistic && !freeze_bn_stats);
    if (trains) {
      EXPECT_FALSE(torch::equal(tensor, before.at(key))) << strategy << ": " << key << " did not train";
    } else {
      EXPECT_TRUE(torch::equal(tensor, before.at(key))) << strategy << ": frozen " << key << " changed";
    }
  }
}

TEST(PartialTraining, OnlyTheIntendedTensorsChange) {
  for (const auto& s : aft::methods::partial_strategies()) expect_only_trainable_change(tiny_vit(), s);
  for (const std::string s : {"first-half", "last-half", "alternate", "norm-bias"}) {
    expect_only_trainable_change(aft::testing::tiny_resnet(), s);
  }
  // The default: frozen units' statistics follow the target data, their weights stay.
  expect_only_trainable_change(aft::testing::tiny_resnet(), "last-half", /*freeze_bn_stats=*/false);
}

// Mean seconds of a forward + backward step after the Trainer has frozen what the method leaves out.
double step_seconds(aft::methods::Method& method, const torch::Tensor& x, const torch::Tensor& y) {
  method.set_training(true);
  double total = 0;
  for (int i = 0; i < 3; ++i) {
    for (auto& p : method.model()->parameters()) p.mutable_grad() = torch::Tensor();
    const auto start = std::chrono::steady_clock::now();
    torch::nn::functional::cross_entropy(method.model()->forward(x), y).backward();
    if (i > 0) total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return total / 2;
}

TEST(PartialFrozenPrefix, GetsNoGradientAndCostsNoBackward) {
  const auto task = aft::testing::tiny_task();
  torch::manual_seed(1);
  const auto x = torch::randn({16, 3, 16, 16});
  const auto y = torch::randint(0, 3, {16});
  auto make = [] {
    torch::manual_seed(0);
    aft::models::ModelConfig c;
    c.arch = "vit_ti_4";
    c.num_classes = 3;
    c.image_size = 16;
    return aft::models::build_model(c);
  };
  auto partial = strategy_method("last-half");
  partial->attach(make());
  aft::train::Trainer frozen(*partial, aft::testing::tiny_options(1), task);  // sets requires_grad
  const double partial_s = step_seconds(*partial, x, y);
  for (const auto& p : partial->model()->named_parameters(true)) {
    const bool trains = partial->trainable().count(p.key()) || aft::models::is_head_param(*partial->model(), p.key());
    EXPECT_EQ(p.value().grad().defined(), trains) << p.key();
  }
  auto every = aft::methods::full_method().create(aft::methods::NoOptions());
  every->attach(make());
  aft::train::Trainer unfrozen(*every, aft::testing::tiny_options(1), task);
  const double all_s = step_seconds(*every, x, y);
  std::cout << "[ measure  ] vit_ti_4 @16px batch 16 forward+backward: full " << all_s * 1e3 << " ms, last-half "
            << partial_s * 1e3 << " ms (" << 100.0 * (1 - partial_s / all_s) << "% saved)" << std::endl;
  RecordProperty("full_ms", std::to_string(all_s * 1e3));
  RecordProperty("last_half_ms", std::to_string(partial_s * 1e3));
}

TEST(PartialOptionsTest, ValidateChecksChoicesAndK) {
  PartialOptions o;
  EXPECT_NO_THROW(o.validate());
  o.k = "3";
  EXPECT_EQ(o.k_value(), 3);
  o.k = "three";
  EXPECT_THROW(o.validate(), aft::Error);
  o.k = "auto";
  o.pick = "biggest";
  EXPECT_THROW(o.validate(), aft::Error);
  o.pick = "auto";
  o.strategy = "middle";
  EXPECT_THROW(o.validate(), aft::Error);
}

}  // namespace
