// Strict weight loading: mismatches name the key and both shapes, head replacement keeps a
// fresh head, F16/BF16 files convert to float32, and timm ViT names map both ways.
#include "aft/models/weights.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"

using namespace aft::models;

namespace {

ModelConfig config(const std::string& arch, int64_t classes, int64_t image = 32) {
  ModelConfig c;
  c.arch = arch;
  c.num_classes = classes;
  c.image_size = image;
  c.stem = "small";
  return c;
}

std::string temp(const std::string& name) { return ::testing::TempDir() + "/aft_weights_" + name; }

std::string load_error(VisionModel& model, const std::string& path, LoadOptions options = {}) {
  try {
    load_weights(model, path, options);
  } catch (const aft::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Weights, SaveLoadRoundTripWithMetadata) {
  auto a = build_model(config("resnet18", 10));
  const std::string path = temp("r18.safetensors");
  save_weights(*a, path, {{"note", "hello"}});
  const auto file = aft::safetensors::read(path);
  EXPECT_EQ(file.metadata.at("arch"), "resnet18");
  EXPECT_EQ(file.metadata.at("num_classes"), "10");
  EXPECT_EQ(file.metadata.at("note"), "hello");
  EXPECT_EQ(file.tensors.at("bn1.num_batches_tracked").scalar_type(), torch::kInt64);
  EXPECT_EQ(file.tensors.size(), state_dict(*a).size());
  auto b = build_model(config("resnet18", 10));
  load_weights(*b, path);
  for (const auto& [key, t] : state_dict(*a)) EXPECT_TRUE(torch::equal(t, state_dict(*b).at(key))) << key;
}

TEST(Weights, WrongArchitectureNamesKeyAndBothShapes) {
  auto r18 = build_model(config("resnet18", 10));
  const std::string path = temp("r18_for_r50.safetensors");
  save_weights(*r18, path);
  auto r50 = build_model(config("resnet50", 10));
  const std::string message = load_error(*r50, path);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("layer1.0.conv1.weight (model [64, 64, 1, 1], file [64, 64, 3, 3])"), std::string::npos)
      << message;
  EXPECT_NE(message.find("missing keys: "), std::string::npos);
  EXPECT_NE(message.find("layer1.0.conv3.weight"), std::string::npos);
  EXPECT_NE(message.find("the file's metadata says arch resnet18"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST(Weights, UnexpectedAndMissingKeys) {
  auto model = build_model(config("resnet18", 10));
  auto tensors = state_dict(*model);
  tensors.erase("layer2.1.bn2.running_var");
  tensors["extra.weight"] = torch::zeros({1});
  try {
    load_state_dict(*model, tensors, {}, "mem");
    FAIL();
  } catch (const aft::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("1 missing keys: layer2.1.bn2.running_var"), std::string::npos) << m;
    EXPECT_NE(m.find("1 unexpected keys: extra.weight"), std::string::npos) << m;
  }
}

TEST(Weights, ReplaceHeadKeepsFreshHead) {
  auto source = build_model(config("resnet18", 10));
  const std::string path = temp("r18_head.safetensors");
  save_weights(*source, path);
  auto target = build_model(config("resnet18", 5));
  const torch::Tensor fresh = target->named_parameters()["fc.weight"].clone();
  EXPECT_NE(load_error(*target, path).find("fc.weight (model [5, 512], file [10, 512])"), std::string::npos);
  LoadOptions options;
  options.replace_head = true;
  load_weights(*target, path, options);
  EXPECT_TRUE(torch::equal(target->named_parameters()["fc.weight"], fresh));
  EXPECT_TRUE(torch::equal(target->named_parameters()["layer4.1.conv2.weight"],
                           source->named_parameters()["layer4.1.conv2.weight"]));
  // Same class count: the file's head is loaded.
  auto same = build_model(config("resnet18", 10));
  load_weights(*same, path, options);
  EXPECT_TRUE(torch::equal(same->named_parameters()["fc.weight"], source->named_parameters()["fc.weight"]));
  // replace_head on the model itself gives the requested class count.
  same->replace_head(3);
  EXPECT_EQ(same->named_parameters()["fc.weight"].sizes(), (std::vector<int64_t>{3, 512}));
  EXPECT_EQ(same->config().num_classes, 3);
  EXPECT_EQ(same->forward(torch::randn({1, 3, 16, 16})).size(1), 3);
}

TEST(Weights, HalfPrecisionFilesConvertToFloat) {
  auto model = build_model(config("vit_ti_8", 4));
  for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    TensorMap half;
    for (const auto& [k, t] : state_dict(*model)) half[k] = t.to(dtype);
    const std::string path = temp("half.safetensors");
    aft::safetensors::write(path, half);
    auto other = build_model(config("vit_ti_8", 4));
    load_weights(*other, path);
    for (const auto& [k, t] : state_dict(*other)) {
      EXPECT_EQ(t.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::equal(t, half.at(k).to(torch::kFloat32))) << k;
    }
  }
}

TEST(Weights, TimmNamesRoundTrip) {
  auto model = build_model(config("vit_ti_8", 6));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.normal_();
  }
  const TensorMap timm = to_timm_names(state_dict(*model));
  for (const char* key : {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.norm1.weight",
                          "blocks.11.attn.qkv.weight", "blocks.3.attn.proj.bias", "blocks.2.norm2.bias",
                          "blocks.5.mlp.fc1.weight", "blocks.5.mlp.fc2.bias", "norm.weight", "head.weight"}) {
    EXPECT_EQ(timm.count(key), 1u) << key;
  }
  EXPECT_TRUE(has_timm_names(timm));
  EXPECT_FALSE(has_timm_names(state_dict(*model)));
  const std::string path = temp("timm.safetensors");
  aft::safetensors::write(path, timm);
  auto other = build_model(config("vit_ti_8", 6));
  load_weights(*other, path);
  for (const auto& [k, t] : state_dict(*model)) EXPECT_TRUE(torch::equal(t, state_dict(*other).at(k))) << k;
}
