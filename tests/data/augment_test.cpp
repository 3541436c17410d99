// RandAugment / TrivialAugmentWide against the installed torchvision (tools/augment_reference.py):
// every op at every magnitude of both op spaces equals torchvision's _apply_op on the PIL image
// byte for byte; the op lists and magnitude bins are torchvision's own; the draws cover every
// op, bin and sign; and the preset applies the augmentation after the crop, before Normalize.
#include "aft/data/auto_augment.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_decode.h"
#include "aft/data/transforms.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

using testing::have_torchvision;
using testing::temp_dir;

AugmentOp op_named(const std::string& name) {
  for (AugmentOp op : all_augment_ops()) {
    if (augment_op_name(op) == name) return op;
  }
  fail("torchvision names an op aft does not have: ", name);
}

class AugmentTorchvision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_torchvision()) return;
    dir_ = temp_dir("augment");
    const std::string cmd =
        "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/augment_reference.py " + dir_ + " > /dev/null";
    ok_ = std::system(cmd.c_str()) == 0;
  }
  void SetUp() override {
    if (!have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision not available";
    ASSERT_TRUE(ok_) << "tools/augment_reference.py failed";
  }
  static Image load(const std::string& name) { return decode_image(fs::read_file(dir_ + "/" + name), name); }
  static std::string dir_;
  static bool ok_;
};
std::string AugmentTorchvision::dir_;
bool AugmentTorchvision::ok_ = false;

TEST_F(AugmentTorchvision, EveryOpAtEveryMagnitudeEqualsTorchvisionPil) {
  const auto cases = fs::read_json(dir_ + "/cases.json");
  const std::string expected = fs::read_file(dir_ + "/cases.bin");
  std::map<std::string, Image> images;
  std::map<std::string, int> checked, wrong;
  size_t offset = 0;
  for (const auto& c : cases) {
    const auto file = c.at(0).get<std::string>();
    const auto name = c.at(1).get<std::string>();
    const double magnitude = c.at(2).get<double>();
    if (!images.count(file)) images[file] = load(file);
    const Image out = apply_augment_op(images.at(file), op_named(name), magnitude);
    ASSERT_LE(offset + out.pixels.size(), expected.size());
    const bool same = std::memcmp(out.pixels.data(), expected.data() + offset, out.pixels.size()) == 0;
    offset += out.pixels.size();
    ++checked[name];
    if (!same) {
      ++wrong[name];
      ADD_FAILURE() << name << "(" << magnitude << ") on " << file << " differs from torchvision";
    }
  }
  EXPECT_EQ(offset, expected.size());
  EXPECT_EQ(checked.size(), all_augment_ops().size()) << "every op is checked";
  for (const auto& [name, n] : checked) EXPECT_EQ(wrong[name], 0) << name << ": " << wrong[name] << " of " << n;
}

TEST_F(AugmentTorchvision, OpListsAndMagnitudeBinsAreTorchvisions) {
  const auto spaces = fs::read_json(dir_ + "/space.json");
  for (auto it = spaces.begin(); it != spaces.end(); ++it) {
    const Image image = load(it.key());
    for (const std::string policy : {"randaugment", "trivialaugment"}) {
      const auto& want = it.value().at(policy);
      const auto got = augmentation_space(policy, 31, image.height, image.width);
      ASSERT_EQ(got.size(), want.size()) << policy;
      for (size_t i = 0; i < got.size(); ++i) {
        const auto& row = want.at(i);
        EXPECT_EQ(augment_op_name(got[i].op), row.at(0).get<std::string>()) << policy << " op " << i;
        EXPECT_EQ(got[i].is_signed, row.at(2).get<bool>()) << policy << " " << row.at(0);
        const auto values = row.at(1).is_null() ? std::vector<double>{} : row.at(1).get<std::vector<double>>();
        // Both sides round torch's float32 linspace, whose last bit differs between LibTorch
        // versions (1.13 steps from the start, 2.x from both ends): equal to float32 rounding.
        ASSERT_EQ(got[i].magnitudes.size(), values.size()) << policy << " " << row.at(0);
        for (size_t b = 0; b < values.size(); ++b) {
          EXPECT_NEAR(got[i].magnitudes[b], values[b], 2e-7 * std::max(1.0, std::abs(values[b])))
              << policy << " " << row.at(0) << " bin " << b << " on " << it.key();
        }
      }
    }
  }
}

TEST(AutoAugment, DrawsEveryOpBinAndSign) {
  AugmentSpec spec;
  spec.policy = "trivialaugment";
  const AutoAugment ta(spec, 32, 32);
  Rng rng(5);
  const int draws = 28000;
  std::map<AugmentOp, int> ops;
  std::map<std::pair<AugmentOp, double>, int> values;
  int negative = 0, signed_draws = 0;
  for (int i = 0; i < draws; ++i) {
    const auto s = ta.sample(rng);
    ASSERT_EQ(s.size(), 1u);
    ++ops[s[0].first];
    ++values[{s[0].first, std::abs(s[0].second)}];
    if (s[0].first == AugmentOp::kRotate) {
      ++signed_draws;
      negative += s[0].second < 0;
    }
  }
  ASSERT_EQ(ops.size(), 14u);
  for (const auto& [op, n] : ops) EXPECT_NEAR(n, draws / 14.0, 150) << augment_op_name(op);  // ~4.5 sd
  // Rotate: each of the 31 bins is drawn.
  int rotate_bins = 0;
  for (const auto& [key, n] : values) rotate_bins += key.first == AugmentOp::kRotate;
  EXPECT_EQ(rotate_bins, 31);
  EXPECT_NEAR(negative, signed_draws / 2.0, 120);

  spec.policy = "randaugment";
  spec.num_ops = 3;
  spec.magnitude = 9;
  const AutoAugment ra(spec, 32, 32);
  std::map<AugmentOp, int> ra_ops;
  for (int i = 0; i < 2000; ++i) {
    const auto s = ra.sample(rng);
    ASSERT_EQ(s.size(), 3u);
    for (const auto& [op, m] : s) {
      ++ra_ops[op];
      for (const auto& row : ra.space()) {
        if (row.op == op && !row.magnitudes.empty()) EXPECT_EQ(std::abs(m), row.magnitudes[9]) << augment_op_name(op);
      }
    }
  }
  EXPECT_EQ(ra_ops.size(), 14u);
}

TEST(AutoAugment, PresetAugmentsAfterTheCropAndBeforeNormalize) {
  Image img;
  img.height = img.width = 32;
  img.pixels.resize(32 * 32 * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37) % 251);
  AugmentSpec spec;
  spec.policy = "randaugment";
  const auto t = make_preset("none", true, 32, spec);  // Resize(32)+CenterCrop(32): no draws of its own
  EXPECT_TRUE(t->random());
  EXPECT_NE(t->describe().find("RandAugment(num_ops=2,magnitude=9,bins=31)"), std::string::npos) << t->describe();
  EXPECT_EQ(make_preset("none", false, 32, spec)->describe().find("RandAugment"), std::string::npos)
      << "evaluation never augments";
  const AutoAugment ra(spec, 32, 32);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std_[3] = {0.229f, 0.224f, 0.225f};
  bool changed = false;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Rng a(seed), b(seed);
    const torch::Tensor x = t->apply(img, a);
    const Image want = ra.apply(img, b);
    changed |= want.pixels != img.pixels;
    const float* p = x.data_ptr<float>();
    float max_diff = 0;
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 32 * 32; ++i) {
        const float v = (want.pixels[i * 3 + c] / 255.0f - mean[c]) / std_[c];
        max_diff = std::max(max_diff, std::abs(p[c * 1024 + i] - v));
      }
    }
    EXPECT_LT(max_diff, 1e-5) << "seed " << seed;
    Rng again(seed);
    EXPECT_TRUE(torch::equal(x, t->apply(img, again))) << "the seed decides the augmentation";
  }
  EXPECT_TRUE(changed);
}

TEST(AutoAugment, RefusesBadSettings) {
  AugmentSpec spec;
  spec.policy = "autoaugment";
  EXPECT_THROW(AutoAugment(spec, 32, 32), aft::Error);
  spec.policy = "randaugment";
  spec.magnitude = 31;
  EXPECT_THROW(AutoAugment(spec, 32, 32), aft::Error);
  spec.magnitude = 9;
  spec.num_ops = 0;
  EXPECT_THROW(AutoAugment(spec, 32, 32), aft::Error);
}

}  // namespace
}  // namespace aft::data
