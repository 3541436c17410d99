// The data path on a GPU: the loader's pinned batches and their asynchronous copies.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "aft/data/image_folder.h"
#include "aft/data/loader.h"
#include "aft/data/transforms.h"
#include "tests/cuda/skip_without_cuda.h"
#include "tests/data/data_test_util.h"

namespace {

// The trainer's loaders pin their batches when the device is CUDA, so the copy to the device
// (non_blocking) can overlap the step; each batch is a fresh pinned block, never a reused one.
TEST(CudaData, PinnedLoaderBatchesCopyAsynchronouslyAndMatchPageableOnes) {
  SKIP_WITHOUT_CUDA();
  namespace dt = aft::data::testing;
  const std::string dir = dt::temp_dir("cuda_pinned");
  dt::make_folder(dir + "/data", {"a", "b"}, 9, 0);
  auto data = aft::data::open_image_folder(dir + "/data/train", {"a", "b"}, false);
  std::vector<size_t> all(data->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const auto transform = aft::data::make_preset("small", false, 16);
  aft::data::LoaderOptions o;
  o.batch_size = 4;
  aft::data::Loader pageable(data, all, transform, o);
  o.pin_memory = true;
  aft::data::Loader pinned(data, all, transform, o);
  pageable.start_epoch(0);
  pinned.start_epoch(0);
  aft::data::Batch a, b;
  std::vector<torch::Tensor> kept;
  while (pageable.next(a)) {
    ASSERT_TRUE(pinned.next(b));
    EXPECT_FALSE(a.images.is_pinned());
    EXPECT_TRUE(b.images.is_pinned());
    EXPECT_TRUE(b.labels.is_pinned());
    kept.push_back(b.images.to(torch::kCUDA, /*non_blocking=*/true));
    EXPECT_TRUE(torch::equal(kept.back().cpu(), a.images));
  }
  EXPECT_FALSE(pinned.next(b));
  EXPECT_EQ(kept.size(), 5u);
}

}  // namespace
