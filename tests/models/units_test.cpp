// Tunable units: the counts the methods' documents rely on (ResNet-50's 49 layer units,
// partial.md's ViT-B/16 parameter counts) and the invariants every method assumes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "aft/core/error.h"
#include "aft/models/model.h"
#include "aft/models/resnet.h"

using aft::models::build_model;
using aft::models::ModelConfig;
using aft::models::UnitLevel;

namespace {

ModelConfig config(const std::string& arch, int64_t classes = 1000, int64_t image = 224) {
  ModelConfig c;
  c.arch = arch;
  c.num_classes = classes;
  c.image_size = image;
  return c;
}

int64_t numel_of(const aft::models::VisionModel& model, const std::vector<aft::models::TunableUnit>& units,
                 const std::string& group) {
  auto params = model.named_parameters(true);
  int64_t total = 0;
  for (const auto& u : units) {
    if (group.empty() || u.group == group) {
      for (const auto& p : u.params) total += params[p].numel();
    }
  }
  return total;
}

// No parameter in two units, the head in none; at layer level every other parameter is covered.
void check_partition(const aft::models::VisionModel& model, UnitLevel level, bool covers_all) {
  std::set<std::string> seen;
  for (const auto& u : model.units(level)) {
    EXPECT_FALSE(u.params.empty()) << u.name;
    EXPECT_FALSE(u.group.empty()) << u.name;
    for (const auto& p : u.params) {
      EXPECT_TRUE(seen.insert(p).second) << p << " is in two units";
      EXPECT_FALSE(aft::models::is_head_param(model, p)) << p;
    }
  }
  if (covers_all) {
    for (const auto& p : model.named_parameters(true)) {
      if (!aft::models::is_head_param(model, p.key())) EXPECT_TRUE(seen.count(p.key())) << p.key() << " in no unit";
    }
  }
}

}  // namespace

TEST(ModelsUnits, Resnet50Has49LayerAnd16BlockUnits) {
  auto model = build_model(config("resnet50"));
  const auto layer = model->units(UnitLevel::layer);
  ASSERT_EQ(layer.size(), 49u);
  EXPECT_EQ(layer[0].name, "conv1");
  EXPECT_EQ(layer[0].params, (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias"}));
  EXPECT_EQ(layer[3].name, "layer1.0.conv3");
  EXPECT_EQ(layer[3].params.size(), 6u);  // conv3 + bn3 + downsample conv + bn
  const auto block = model->units(UnitLevel::block);
  ASSERT_EQ(block.size(), 16u);
  EXPECT_EQ(block[3].name, "layer2.0");
  EXPECT_EQ(aft::models::group_units(block).size(), 4u);
  // Coarsening layer units by block / stage gives contribution.md's 16 and 4 dimensions.
  std::set<std::string> blocks, stages;
  for (const auto& u : layer) blocks.insert(u.block), stages.insert(u.stage);
  EXPECT_EQ(blocks.size(), 16u);
  EXPECT_EQ(stages.size(), 4u);
  check_partition(*model, UnitLevel::layer, true);
  check_partition(*model, UnitLevel::block, false);
}

TEST(ModelsUnits, LayerGroupsHaveIdenticalShapes) {
  auto model = build_model(config("resnet50", 10));
  auto params = model->named_parameters(true);
  for (const auto& [name, units] : aft::models::group_units(model->units(UnitLevel::layer))) {
    for (const auto& u : units) {
      ASSERT_EQ(u.params.size(), units[0].params.size()) << name;
      for (size_t i = 0; i < u.params.size(); ++i) {
        EXPECT_EQ(params[u.params[i]].sizes(), params[units[0].params[i]].sizes()) << u.name;
      }
    }
  }
  // layer1.1.conv1 and layer1.2.conv1 (256 -> 64) share a group; layer1.0.conv1 (64 -> 64) does not.
  const auto units = model->units(UnitLevel::layer);
  auto find = [&](const std::string& n) {
    return *std::find_if(units.begin(), units.end(), [&](const auto& u) { return u.name == n; });
  };
  EXPECT_EQ(find("layer1.1.conv1").group, find("layer1.2.conv1").group);
  EXPECT_NE(find("layer1.0.conv1").group, find("layer1.1.conv1").group);
}

TEST(ModelsUnits, Resnet18And26Counts) {
  auto r18 = build_model(config("resnet18"));
  EXPECT_EQ(r18->units(UnitLevel::layer).size(), 17u);
  EXPECT_EQ(r18->units(UnitLevel::block).size(), 8u);
  check_partition(*r18, UnitLevel::layer, true);
  auto r26 = build_model(config("resnet26", 10, 64));
  EXPECT_EQ(r26->units(UnitLevel::layer).size(), 26u);  // stem + 2 x 12 blocks + final_bn
  const auto block = r26->units(UnitLevel::block);
  ASSERT_EQ(block.size(), 13u);
  EXPECT_EQ(block.back().name, "final_bn");
  check_partition(*r26, UnitLevel::layer, true);
  check_partition(*r26, UnitLevel::block, false);
}

// partial.md: ATTN-only 28.44M, FFN-only 56.76M, full 85.88M, each with a 100-class head.
TEST(ModelsUnits, VitB16PartialParameterCounts) {
  auto model = build_model(config("vit_b_16", 100));
  const auto block = model->units(UnitLevel::block);
  ASSERT_EQ(block.size(), 24u);
  const auto groups = aft::models::group_units(block);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].first, "attn");
  EXPECT_EQ(groups[0].second.size(), 12u);
  EXPECT_EQ(groups[1].first, "ffn");
  int64_t head = 0, total = 0;
  for (const auto& p : model->named_parameters(true)) {
    total += p.value().numel();
    if (aft::models::is_head_param(*model, p.key())) head += p.value().numel();
  }
  EXPECT_EQ(head, 76900);
  EXPECT_NEAR((numel_of(*model, block, "attn") + head) / 1e6, 28.44, 0.005);
  EXPECT_NEAR((numel_of(*model, block, "ffn") + head) / 1e6, 56.76, 0.005);
  EXPECT_NEAR(total / 1e6, 85.88, 0.005);
  check_partition(*model, UnitLevel::block, false);
  const auto layer = model->units(UnitLevel::layer);
  EXPECT_EQ(layer.size(), 1u + 4u * 12u);
  EXPECT_EQ(layer[0].name, "embedding");
  EXPECT_EQ(layer.back().params.back(), "encoder.ln.bias");
  check_partition(*model, UnitLevel::layer, true);
  // qkv units of all 12 layers are homogeneous; the last fc2 carries encoder.ln so it differs.
  EXPECT_EQ(layer[1].group, layer[5].group);
  EXPECT_NE(layer[4].group, layer.back().group);
}

TEST(ModelsConfig, JsonRoundTripAndBadArch) {
  ModelConfig c = config("vit_s_8", 37, 64);
  c.width = 0.5;
  c.stem = "small";
  const ModelConfig back = ModelConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(ModelConfig::from_json(nlohmann::json::object()).arch, "resnet18");
  EXPECT_THROW(ModelConfig::from_json({{"num_classes", "ten"}}), aft::Error);
  try {
    build_model(config("resnet19"));
    FAIL();
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("resnet50"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_model(config("vit_b_16", 10, 100)), aft::Error);  // 100 % 16 != 0
}

TEST(ResnetModel, WidthStemAndSplitForward) {
  ModelConfig c = config("resnet18", 7, 32);
  c.width = 0.25;
  c.stem = "small";
  auto model = build_model(c);
  auto* resnet = dynamic_cast<aft::models::ResNet*>(model.get());
  ASSERT_NE(resnet, nullptr);
  EXPECT_EQ(resnet->feature_dim(), 128);
  EXPECT_EQ(resnet->blocks().size(), 8u);
  EXPECT_EQ(resnet->block_names()[2], "layer2.0");
  model->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 32});
  auto y = model->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 7}));
  // features == pool(blocks(stem)), and a cloned block computes the same as the original.
  auto h = resnet->stem(x);
  for (auto& b : resnet->blocks()) h = b->clone_block()->forward(h);
  EXPECT_TRUE(torch::allclose(resnet->head(resnet->pool(h)), y));
}

TEST(ResnetModel, Resnet26ShapesAndZeroPadShortcut) {
  auto model = build_model(config("resnet26", 10, 64));
  auto* resnet = dynamic_cast<aft::models::ResNet*>(model.get());
  EXPECT_EQ(resnet->feature_dim(), 256);
  auto state = model->named_parameters(true);
  EXPECT_EQ(state["conv1.weight"].sizes(), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(state.find("layer1.0.downsample.0.weight"), nullptr);  // parameter-free shortcut
  auto x = torch::randn({1, 32, 8, 8});
  auto s = resnet->blocks()[0]->shortcut(x);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{1, 64, 4, 4}));
  EXPECT_TRUE(torch::allclose(s.narrow(1, 0, 32), torch::avg_pool2d(x, {2, 2})));
  EXPECT_EQ(s.narrow(1, 32, 32).abs().sum().item<float>(), 0.0f);
  model->eval();
  EXPECT_EQ(model->forward(torch::randn({2, 3, 64, 64})).sizes(), (std::vector<int64_t>{2, 10}));
}
