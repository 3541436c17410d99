// The frozen-prefix cache: rows equal a direct run of the pieces, repeated images are hits,
// keys keep models and cut points apart, and the memory budget bounds what is stored.
#include "aft/methods/prefix_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/train/tiny_task.h"

namespace {

using aft::methods::PrefixCache;

TEST(PrefixCache, RowsEqualTheDirectRunAndRepeatsAreHits) {
  auto m = aft::testing::tiny_resnet(3, 4);
  m->eval();
  torch::manual_seed(1);
  const auto x = torch::randn({6, 3, 16, 16});
  PrefixCache cache(int64_t{1} << 30);
  torch::Tensor direct;
  {
    torch::NoGradGuard no_grad;
    direct = m->run_pieces(x, 0, 3);
  }
  EXPECT_TRUE(torch::equal(cache.run(*m, 0, 3, x), direct));
  EXPECT_EQ(cache.stats().misses, 6);
  EXPECT_EQ(cache.stats().entries, 6);
  // A batch mixing seen and new images, in another order.
  const auto mixed = torch::cat({x.slice(0, 4, 6), torch::randn({2, 3, 16, 16}), x.slice(0, 0, 1)});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = m->run_pieces(mixed, 0, 3);
  }
  EXPECT_TRUE(torch::allclose(cache.run(*m, 0, 3, mixed), expected, 1e-6, 1e-6));
  EXPECT_EQ(cache.stats().hits, 3);
  EXPECT_EQ(cache.stats().misses, 8);
  EXPECT_FALSE(cache.run(*m, 0, 3, x).requires_grad());
  EXPECT_GT(cache.stats().bytes, 0);
}

TEST(PrefixCache, KeysSeparateModelsAndCutPoints) {
  auto m = aft::testing::tiny_resnet(3, 4);
  m->eval();
  const auto x = torch::randn({2, 3, 16, 16});
  PrefixCache cache(int64_t{1} << 30);
  const auto two = cache.run(*m, 0, 2, x);
  const auto four = cache.run(*m, 0, 4, x);  // after layer2.0, which halves the resolution
  EXPECT_NE(two.sizes(), four.sizes());
  cache.run(*m, 1, 2, x);
  EXPECT_EQ(cache.stats().hits, 0);
  EXPECT_EQ(cache.stats().entries, 6);
}

TEST(PrefixCache, TheBudgetBoundsWhatIsStored) {
  auto m = aft::testing::tiny_resnet(3, 4);
  m->eval();
  const auto x = torch::randn({4, 3, 16, 16});
  PrefixCache none(0);
  const auto first = none.run(*m, 0, 2, x);
  EXPECT_EQ(none.stats().entries, 0);
  EXPECT_TRUE(torch::equal(none.run(*m, 0, 2, x), first));  // still right, just recomputed
  EXPECT_EQ(none.stats().hits, 0);
}

TEST(PrefixCache, ContentHashesTellImagesApart) {
  auto x = torch::zeros({3, 3, 4, 4});
  x[1][0][0][0] = 1e-30f;  // one bit pattern apart
  x[2] = x[0];
  const auto h = aft::methods::content_hashes(x);
  EXPECT_NE(h[0], h[1]);
  EXPECT_EQ(h[0], h[2]);
}

}  // namespace
