// Mixup and CutMix batches against their definitions.
#include "aft/train/mix.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using aft::train::mix_batch;
using aft::train::MixOptions;
using torch::indexing::Slice;

TEST(Mix, MixupBlendsEachImageWithItsPartner) {
  torch::manual_seed(1);
  const auto x = torch::randn({6, 3, 8, 8});
  MixOptions o;
  o.mixup_alpha = 0.4;
  const auto m = mix_batch(x, o, 3, 2, 5);
  EXPECT_FALSE(m.cutmix);
  EXPECT_GT(m.lam, 0.0);
  EXPECT_LT(m.lam, 1.0);
  EXPECT_TRUE(torch::equal(std::get<0>(m.partner.sort()), torch::arange(6, torch::kInt64))) << "a permutation";
  EXPECT_TRUE(torch::allclose(m.images, x * m.lam + x.index_select(0, m.partner) * (1 - m.lam), 1e-6, 1e-6));
  // The same (seed, epoch, step) mixes the same way; another step does not.
  const auto again = mix_batch(x, o, 3, 2, 5);
  EXPECT_EQ(again.lam, m.lam);
  EXPECT_TRUE(torch::equal(again.partner, m.partner));
  EXPECT_NE(mix_batch(x, o, 3, 2, 6).lam, m.lam);
}

TEST(Mix, CutmixPastesABoxAndWeighsLabelsByItsArea) {
  torch::manual_seed(2);
  const auto x = torch::randn({5, 3, 16, 12});
  MixOptions o;
  o.cutmix_alpha = 1.0;
  for (int64_t step = 0; step < 20; ++step) {
    const auto m = mix_batch(x, o, 0, 0, step);
    ASSERT_TRUE(m.cutmix);
    const auto others = x.index_select(0, m.partner);
    auto expected = x.clone();
    expected.index_put_({Slice(), Slice(), Slice(m.y0, m.y1), Slice(m.x0, m.x1)},
                        others.index({Slice(), Slice(), Slice(m.y0, m.y1), Slice(m.x0, m.x1)}));
    EXPECT_TRUE(torch::equal(m.images, expected)) << step;
    EXPECT_DOUBLE_EQ(m.lam, 1.0 - double((m.y1 - m.y0) * (m.x1 - m.x0)) / (16 * 12)) << step;
  }
}

}  // namespace
