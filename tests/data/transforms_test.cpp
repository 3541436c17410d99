// Transforms against torchvision: preset outputs equal torchvision's PIL pipeline (up to float
// rounding), and RandomResizedCrop boxes follow get_params' distribution.
#include "aft/core/error.h"
#include "aft/data/transforms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "aft/core/fs.h"
#include "aft/data/image_decode.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

using testing::have_torchvision;
using testing::run_python;
using testing::temp_dir;

const char* kReference = R"PY(
import numpy as np, torch
from PIL import Image
import torchvision.transforms as T
rng = np.random.default_rng(1)
y, x = np.mgrid[0:375, 0:500]
img = np.stack([127 + 120*np.sin(x/9.0 + c) * np.cos(y/13.0 - c) for c in range(3)], -1)
Image.fromarray((img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)).save('photo.png')
Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save('digit.png')
norm = [T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
im = Image.open('photo.png').convert('RGB')
T.Compose([T.Resize(256), T.CenterCrop(224)] + norm)(im).numpy().astype('<f4').tofile('imagenet_test.f32')
T.Compose([T.Resize(72), T.CenterCrop(64)] + norm)(im).numpy().astype('<f4').tofile('decathlon_test.f32')
d = Image.open('digit.png').convert('RGB')
T.Compose([T.Resize(32), T.CenterCrop(32)] + norm)(d).numpy().astype('<f4').tofile('small_test.f32')
# EfficientNet-Lite's inputs (timm's recipe): bicubic, crop 0.875, mean = std = 0.5; downscaling
# a photo and upscaling a digit (bicubic's negative lobes clip there).
lite = [T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]
bicubic = T.InterpolationMode.BICUBIC
T.Compose([T.Resize(256, interpolation=bicubic), T.CenterCrop(224)] + lite)(im).numpy().astype('<f4').tofile('lite_test.f32')
T.Compose([T.Resize(73, interpolation=bicubic), T.CenterCrop(64)] + lite)(d).numpy().astype('<f4').tofile('lite_up.f32')
T.Compose([T.Resize(32), T.CenterCrop(32)] + lite)(d).numpy().astype('<f4').tofile('small_inception.f32')
# RandomResizedCrop.get_params on 375x500 and on a tall 600x100 image (fallback path).
torch.manual_seed(0)
for name, (h, w) in [('rrc_wide', (375, 500)), ('rrc_tall', (600, 100))]:
    probe = Image.new('RGB', (w, h))
    boxes = np.array([T.RandomResizedCrop.get_params(probe, (0.08, 1.0), (3/4, 4/3)) for _ in range(20000)])
    np.savetxt(name + '.txt', boxes, fmt='%d')
)PY";

class TransformTorchvision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_torchvision()) return;
    dir_ = temp_dir("transforms");
    ok_ = run_python(dir_, kReference);
  }
  void SetUp() override {
    if (!have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision not available";
    ASSERT_TRUE(ok_) << "reference generation failed";
  }
  static Image load(const std::string& name) {
    return decode_image(fs::read_file(dir_ + "/" + name), name);
  }
  static std::vector<float> floats(const std::string& name) {
    const std::string bytes = fs::read_file(dir_ + "/" + name);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
  static std::string dir_;
  static bool ok_;
};
std::string TransformTorchvision::dir_;
bool TransformTorchvision::ok_ = false;

void expect_close(const torch::Tensor& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  const float* g = got.contiguous().data_ptr<float>();
  float max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::abs(g[i] - want[i]));
  EXPECT_LT(max_diff, 1e-5) << what;
}

TEST_F(TransformTorchvision, TestPresetsEqualTorchvisionPil) {
  Rng rng(0);
  const Image photo = load("photo.png");
  expect_close(make_preset("imagenet224", false)->apply(photo, rng), floats("imagenet_test.f32"), "imagenet224");
  expect_close(make_preset("decathlon72", false)->apply(photo, rng), floats("decathlon_test.f32"), "decathlon72");
  expect_close(make_preset("small", false)->apply(load("digit.png"), rng), floats("small_test.f32"), "small");
  expect_close(make_preset("lite", false)->apply(photo, rng), floats("lite_test.f32"), "lite");
  expect_close(make_preset("lite", false, 64)->apply(load("digit.png"), rng), floats("lite_up.f32"), "lite 64");
  expect_close(make_preset("small:inception", false)->apply(load("digit.png"), rng), floats("small_inception.f32"),
               "small:inception");
  EXPECT_THROW(make_preset("small:bogus", false), aft::Error);
}

// Mean and quantiles of area fraction and log aspect ratio, ours vs torchvision's.
void compare_box_stats(const std::string& file, int64_t h, int64_t w) {
  std::vector<double> tv_area, tv_ratio, our_area, our_ratio, tv_top, our_top;
  std::ifstream in(file);
  int64_t i, j, bh, bw;
  while (in >> i >> j >> bh >> bw) {
    tv_area.push_back(double(bh * bw) / double(h * w));
    tv_ratio.push_back(std::log(double(bw) / double(bh)));
    tv_top.push_back(double(i) / h);
  }
  ASSERT_EQ(tv_area.size(), 20000u);
  Rng rng(123);
  for (int k = 0; k < 20000; ++k) {
    const Rect r = sample_random_resized_crop(h, w, rng);
    ASSERT_TRUE(r.y >= 0 && r.x >= 0 && r.y + r.h <= h && r.x + r.w <= w);
    our_area.push_back(double(r.h * r.w) / double(h * w));
    our_ratio.push_back(std::log(double(r.w) / double(r.h)));
    our_top.push_back(double(r.y) / h);
  }
  auto quantile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * (v.size() - 1))];
  };
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / v.size();
  };
  EXPECT_NEAR(mean(our_area), mean(tv_area), 0.01) << file;
  EXPECT_NEAR(mean(our_ratio), mean(tv_ratio), 0.01) << file;
  EXPECT_NEAR(mean(our_top), mean(tv_top), 0.01) << file;
  for (double q : {0.05, 0.25, 0.5, 0.75, 0.95}) {
    EXPECT_NEAR(quantile(our_area, q), quantile(tv_area, q), 0.02) << file << " area q" << q;
    EXPECT_NEAR(quantile(our_ratio, q), quantile(tv_ratio, q), 0.03) << file << " ratio q" << q;
  }
}

TEST_F(TransformTorchvision, RandomResizedCropFollowsGetParams) {
  compare_box_stats(dir_ + "/rrc_wide.txt", 375, 500);
  compare_box_stats(dir_ + "/rrc_tall.txt", 600, 100);
}

TEST(TransformPresets, ShapesSeedsAndUnknownName) {
  Image img;
  img.height = 40;
  img.width = 30;
  img.pixels.assign(40 * 30 * 3, 128);
  for (const auto& name : preset_names()) {
    for (bool train : {true, false}) {
      const auto t = make_preset(name, train);
      Rng a(7), b(7);
      const torch::Tensor x = t->apply(img, a);
      EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, t->output_size(), t->output_size()})) << name;
      EXPECT_TRUE(torch::equal(x, t->apply(img, b))) << name;
    }
  }
  EXPECT_THROW(make_preset("imagenet", true), aft::Error);
}

TEST(TransformPresets, SmallTrainPadsWithZerosAndFlips) {
  Image img;
  img.height = img.width = 32;
  img.pixels.assign(32 * 32 * 3, 255);
  const auto t = make_preset("small", true);
  bool saw_padding = false;
  for (uint64_t s = 0; s < 20 && !saw_padding; ++s) {
    Rng rng(s);
    const torch::Tensor x = t->apply(img, rng);
    saw_padding = x.min().item<float>() < -1.5f;  // a black (zero) pixel after normalising
  }
  EXPECT_TRUE(saw_padding);
}

}  // namespace
}  // namespace aft::data
