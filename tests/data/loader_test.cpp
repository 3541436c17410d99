// Loader: batches independent of thread count, no training batch of size 1, disjoint shards,
// worker errors reach next() without hanging, and destruction mid-epoch is clean.
#include "aft/data/loader.h"

#include <gtest/gtest.h>

#include <map>

#include <chrono>
#include <set>
#include <thread>

#include "aft/core/error.h"

namespace aft::data {
namespace {

// Images whose pixels encode the index; `bad` indices throw like a corrupt file would.
class MemoryDataset : public Dataset {
 public:
  explicit MemoryDataset(size_t n, std::set<size_t> bad = {}, int delay_ms = 0)
      : n_(n), bad_(std::move(bad)), delay_ms_(delay_ms) {
    classes_ = {"a", "b", "c"};
  }
  size_t size() const override { return n_; }
  int64_t label(size_t i) const override { return static_cast<int64_t>(i % 3); }
  Image image(size_t i) const override {
    if (delay_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (bad_.count(i)) fail("/fake/image_", i, ".jpg: corrupt or truncated JPEG");
    Image img;
    img.height = 20 + static_cast<int64_t>(i % 5);
    img.width = 24;
    img.pixels.resize(static_cast<size_t>(img.height * img.width * 3));
    for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = static_cast<uint8_t>(i * 13 + p * 7);
    return img;
  }
  std::string describe(size_t i) const override { return "mem[" + std::to_string(i) + "]"; }

 private:
  size_t n_;
  std::set<size_t> bad_;
  int delay_ms_;
};

std::vector<size_t> iota(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<Batch> epoch(Loader& loader, int64_t e) {
  loader.start_epoch(e);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

TEST(LoaderDeterminism, SameBatchesForOneAndTwoThreads) {
  auto data = std::make_shared<MemoryDataset>(53);
  auto transform = make_preset("small", true, 16);
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  o.seed = 42;
  std::vector<std::vector<Batch>> runs;
  for (int threads : {1, 2, 3}) {
    o.threads = threads;
    Loader loader(data, iota(53), transform, o);
    runs.push_back(epoch(loader, 3));
  }
  ASSERT_EQ(runs[0].size(), 7u);
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t k = 0; k < runs[0].size(); ++k) {
      EXPECT_EQ(runs[r][k].indices, runs[0][k].indices);
      EXPECT_TRUE(torch::equal(runs[r][k].images, runs[0][k].images));
      EXPECT_TRUE(torch::equal(runs[r][k].labels, runs[0][k].labels));
    }
  }
  // Another epoch shuffles differently; the same epoch again repeats exactly.
  o.threads = 2;
  Loader loader(data, iota(53), transform, o);
  EXPECT_NE(epoch(loader, 4)[0].indices, runs[0][0].indices);
  EXPECT_EQ(epoch(loader, 3)[0].indices, runs[0][0].indices);
}

TEST(LoaderBuffers, ReusedOnlyOnceTheConsumerLetGo) {
  auto data = std::make_shared<MemoryDataset>(64);
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  o.threads = 2;
  o.prefetch = 2;  // the loader keeps at most threads + prefetch + 2 = 6 buffers
  Loader loader(data, iota(64), make_preset("small", true, 16), o);
  auto kept = epoch(loader, 1);
  ASSERT_EQ(kept.size(), 8u);
  std::vector<torch::Tensor> expected;
  for (const auto& b : kept) expected.push_back(b.images.clone());
  // The same epoch again while every earlier batch is still held: nothing held is written to.
  auto again = epoch(loader, 1);
  for (size_t k = 0; k < kept.size(); ++k) {
    EXPECT_TRUE(torch::equal(kept[k].images, expected[k])) << "held batch " << k << " overwritten";
    EXPECT_TRUE(torch::equal(again[k].images, expected[k])) << "batch " << k;
    EXPECT_NE(again[k].images.data_ptr(), kept[k].images.data_ptr());
  }
  kept.clear();
  again.clear();

  // Batches dropped as they are used come from the loader's buffers (the loader holds the
  // second reference), a handful of them, and still carry the right contents.
  std::set<const void*> used;
  loader.start_epoch(1);
  Batch b;
  torch::Tensor view;
  for (size_t k = 0; loader.next(b); ++k) {
    ASSERT_LT(k, expected.size());
    EXPECT_TRUE(torch::equal(b.images, expected[k])) << "batch " << k;
    EXPECT_EQ(b.images.use_count(), 2) << "batch " << k << " is not a recycled buffer";
    used.insert(b.images.data_ptr());
    view = b.images.slice(0, 0, 2);  // a view alone pins the buffer until it is replaced
    EXPECT_TRUE(torch::equal(view, expected[k].slice(0, 0, 2)));
  }
  EXPECT_LE(used.size(), 6u);
}

TEST(LoaderBatches, TrainingNeverYieldsSizeOne) {
  auto data = std::make_shared<MemoryDataset>(17);
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  Loader loader(data, iota(17), make_preset("small", true, 8), o);
  const auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  EXPECT_EQ(loader.samples_per_epoch(), 16);
  for (const auto& b : batches) EXPECT_GT(b.images.size(0), 1);
  // Evaluation keeps every sample, in order.
  o.shuffle = false;
  Loader eval(data, iota(17), make_preset("small", false, 8), o);
  const auto eb = epoch(eval, 0);
  ASSERT_EQ(eb.size(), 3u);
  EXPECT_EQ(eb[2].indices, std::vector<size_t>{16});
}

TEST(LoaderShards, RanksGetDisjointSlicesOfTheSameOrder) {
  auto data = std::make_shared<MemoryDataset>(40);
  std::multiset<size_t> seen;
  int64_t batches = -1;
  for (int rank = 0; rank < 4; ++rank) {
    LoaderOptions o;
    o.batch_size = 5;
    o.shuffle = true;
    o.seed = 9;
    o.rank = rank;
    o.world = 4;
    Loader loader(data, iota(40), make_preset("small", true, 8), o);
    const auto bs = epoch(loader, 1);
    if (batches < 0) batches = static_cast<int64_t>(bs.size());
    EXPECT_EQ(static_cast<int64_t>(bs.size()), batches);
    for (const auto& b : bs) seen.insert(b.indices.begin(), b.indices.end());
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), 40u);
}

TEST(LoaderErrors, WorkerFailureReachesCallerWithoutHanging) {
  auto data = std::make_shared<MemoryDataset>(30, std::set<size_t>{17});
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = 2;
  Loader loader(data, iota(30), make_preset("small", false, 8), o);
  loader.start_epoch(0);
  Batch b;
  int good = 0;
  try {
    while (loader.next(b)) ++good;
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/fake/image_17.jpg"), std::string::npos);
  }
  EXPECT_EQ(good, 4);  // batches before the failing one arrive first
  EXPECT_THROW(loader.next(b), Error);
}

TEST(LoaderLifetime, DestructorMidEpochJoinsPromptly) {
  auto data = std::make_shared<MemoryDataset>(200, std::set<size_t>{}, 2);
  const auto start = std::chrono::steady_clock::now();
  {
    LoaderOptions o;
    o.batch_size = 4;
    o.threads = 2;
    Loader loader(data, iota(200), make_preset("small", true, 8), o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    loader.start_epoch(1);  // abandon epoch 0 mid-way
    ASSERT_TRUE(loader.next(b));
  }
  {
    LoaderOptions o;
    Loader never_started(data, iota(200), make_preset("small", true, 8), o);
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(LoaderSampler, WeightedDrawsBalanceTheClasses) {
  // Indices 0..119 whose labels cycle a, b, c; keep all of a, a tenth of b and c: 40, 4, 4.
  auto data = std::make_shared<MemoryDataset>(120);
  std::vector<size_t> indices;
  for (size_t i = 0; i < 120; ++i) {
    if (i % 3 == 0 || i % 30 < 3) indices.push_back(i);
  }
  std::map<int64_t, double> per_class;
  for (size_t i : indices) per_class[data->label(i)] += 1;
  ASSERT_EQ(per_class[0], 40);
  LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = true;
  o.seed = 4;
  for (size_t i : indices) o.sample_weights.push_back(1.0 / per_class[data->label(i)]);
  Loader loader(data, indices, make_preset("small", false, 8), o);
  std::vector<int64_t> drawn(3, 0);
  int64_t total = 0;
  for (int64_t e = 0; e < 30; ++e) {
    for (const auto& b : epoch(loader, e)) {
      for (int64_t k = 0; k < b.labels.size(0); ++k) ++drawn[b.labels[k].item<int64_t>()];
      total += b.labels.size(0);
    }
  }
  EXPECT_EQ(total, 30 * 48);  // as many draws per epoch as indices
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(drawn[c] / double(total), 1.0 / 3, 0.04) << "class " << c;
  // The same epoch draws the same samples.
  const auto a = epoch(loader, 7), b = epoch(loader, 7);
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(torch::equal(a[k].labels, b[k].labels));
}

}  // namespace
}  // namespace aft::data
