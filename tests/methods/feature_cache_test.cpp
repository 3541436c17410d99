// The frozen-feature cache that a race's probes share: each image computed once, every row the
// model's own features of that image.
#include "aft/methods/feature_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/train/tiny_task.h"

namespace {

TEST(FeatureCache, ComputesEachImageOnceAndMatchesADirectPass) {
  const auto task = aft::testing::tiny_task(3, 4);
  auto model = aft::testing::tiny_resnet();
  aft::methods::FeatureCache cache;
  const std::vector<size_t> first{0, 1, 2, 3, 4}, second{3, 4, 5, 6};
  const auto a = cache.features(*model, task, first, 2, 1, torch::kCPU);
  EXPECT_EQ(cache.computed(), 5);
  const auto b = cache.features(*model, task, second, 3, 1, torch::kCPU);
  EXPECT_EQ(cache.computed(), 7);  // 3 and 4 were cached
  ASSERT_EQ(b.size(0), 4);
  // Every row is the model's own features of that image under the eval transform, eval mode.
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> images;
  aft::data::Rng rng(0);  // unused: the eval transform is not random
  for (size_t i : second) images.push_back(task.eval_transform->apply(task.splits.train->image(i), rng));
  const auto direct = model->features(torch::stack(images));
  EXPECT_TRUE(torch::allclose(b, direct, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a.slice(0, 3, 5), b.slice(0, 0, 2), 0, 0));  // the very rows
}

}  // namespace
