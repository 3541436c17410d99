// open_splits on generated image folders, IDX files and Decathlon annotations: seeded
// stratified splits, shots, val/ as test, and a clear error for every malformed layout.
#include "aft/data/splits.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <functional>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/idx_dataset.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

using testing::make_folder;
using testing::temp_dir;

Splits open(const std::string& root, double val = 0.2, int64_t shots = 0, uint64_t seed = 0, bool skip_bad = false) {
  DataOptions o;
  o.root = root;
  o.val_fraction = val;
  o.shots = shots;
  o.seed = seed;
  o.skip_bad = skip_bad;
  return open_splits(o);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error, expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SplitsFolder, StratifiedSeededAndDisjoint) {
  const std::string root = temp_dir("splits_basic");
  make_folder(root, {"cat", "dog", "emu"}, 10, 3);
  const Splits a = open(root, 0.2, 0, 5), b = open(root, 0.2, 0, 5), c = open(root, 0.2, 0, 6);
  EXPECT_EQ(a.classes, (std::vector<std::string>{"cat", "dog", "emu"}));
  EXPECT_EQ(a.train_indices.size(), 24u);
  EXPECT_EQ(a.val_indices.size(), 6u);
  EXPECT_EQ(a.test_indices.size(), 9u);
  EXPECT_EQ(a.train_indices, b.train_indices);
  EXPECT_EQ(a.val_indices, b.val_indices);
  EXPECT_NE(a.val_indices, c.val_indices);
  std::vector<int> per_class(3, 0);
  for (size_t i : a.val_indices) ++per_class[a.train->label(i)];
  EXPECT_EQ(per_class, (std::vector<int>{2, 2, 2}));
  std::set<size_t> all(a.train_indices.begin(), a.train_indices.end());
  for (size_t i : a.val_indices) EXPECT_TRUE(all.insert(i).second);
  const auto j = a.describe();
  EXPECT_EQ(j["train"], 24);
  EXPECT_EQ(j["skipped_unreadable"], 0);
}

TEST(SplitsFolder, ShotsKeepNPerClass) {
  const std::string root = temp_dir("splits_shots");
  make_folder(root, {"a", "b"}, 10, 2);
  const Splits s = open(root, 0.1, 3, 1);
  EXPECT_EQ(s.train_indices.size(), 6u);
  EXPECT_EQ(s.val_indices.size(), 2u);
  EXPECT_EQ(open(root, 0.1, 3, 1).train_indices, s.train_indices);
}

TEST(SplitsFolder, ValFolderIsUsedAsTest) {
  const std::string root = temp_dir("splits_val");
  make_folder(root, {"a", "b"}, 4, 2, "val");
  EXPECT_EQ(open(root).test_indices.size(), 4u);
}

TEST(SplitsFolder, BadLayoutsGiveClearErrors) {
  const std::string root = temp_dir("splits_bad");
  make_folder(root + "/empty_class", {"a", "b"}, 3, 1);
  std::filesystem::create_directories(root + "/empty_class/train/c");
  expect_error([&] { open(root + "/empty_class"); }, "train/c: empty class folder");

  make_folder(root + "/unknown_test", {"a", "b"}, 3, 1);
  make_folder(root + "/unknown_test_extra", {"zebra"}, 0, 1);
  std::filesystem::rename(root + "/unknown_test_extra/test/zebra", root + "/unknown_test/test/zebra");
  expect_error([&] { open(root + "/unknown_test"); }, "classes not present in train/: zebra");

  std::filesystem::create_directories(root + "/no_images/train");
  std::filesystem::create_directories(root + "/no_images/test");
  expect_error([&] { open(root + "/no_images"); }, "no class folders");

  std::filesystem::create_directories(root + "/no_test/train/a");
  testing::write_test_png(root + "/no_test/train/a/x.png", 8, 1);
  expect_error([&] { open(root + "/no_test"); }, "missing test/");
  expect_error([&] { open(root + "/does_not_exist"); }, "does_not_exist");
}

TEST(SplitsFolder, SkipBadCountsUnreadableImages) {
  const std::string root = temp_dir("splits_skip");
  make_folder(root, {"a", "b"}, 5, 2);
  fs::write_file_atomic(root + "/train/a/bad.png", "\x89PNG\r\n\x1a\n garbage");
  fs::write_file_atomic(root + "/test/b/bad.jpg", "\xFF\xD8\xFF truncated");
  const Splits s = open(root, 0.2, 0, 0, true);
  EXPECT_EQ(s.skipped.size(), 2u);
  EXPECT_EQ(s.describe()["skipped_unreadable"], 2);
  EXPECT_EQ(s.train_indices.size() + s.val_indices.size(), 10u);
  // Without --skip-bad the error names the file when the image is read.
  const Splits strict = open(root, 0, 0, 0, false);
  bool named = false;
  for (size_t i : strict.train_indices) {
    try {
      strict.train->image(i);
    } catch (const Error& e) {
      named = std::string(e.what()).find("bad.png") != std::string::npos;
    }
  }
  EXPECT_TRUE(named);
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> be32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }

TEST(IdxDataset, ReadsGzippedMnistFormatAsRgb) {
  const std::string dir = temp_dir("idx");
  for (const std::string prefix : {"train", "t10k"}) {
    const uint32_t n = prefix == "train" ? 20 : 10;
    std::vector<uint8_t> images = be32(0x803), labels = be32(0x801);
    for (uint32_t v : {n, 28u, 28u}) for (uint8_t b : be32(v)) images.push_back(b);
    for (uint8_t b : be32(n)) labels.push_back(b);
    for (uint32_t i = 0; i < n; ++i) {
      for (int p = 0; p < 28 * 28; ++p) images.push_back(uint8_t(i + p));
      labels.push_back(uint8_t(i % 10));
    }
    write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
    write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", labels);
  }
  const Splits s = open("fashion-mnist:" + dir, 0.5);
  EXPECT_EQ(s.classes.size(), 10u);
  EXPECT_EQ(s.train_indices.size() + s.val_indices.size(), 20u);
  EXPECT_EQ(s.val_indices.size(), 10u);
  const Image img = s.test->image(3);
  EXPECT_EQ(img.height, 28);
  EXPECT_EQ(img.pixels[0], 3);
  EXPECT_EQ(img.pixels[1], 3);
  EXPECT_EQ(img.pixels[5 * 3 + 2], 8);
  write_gz(dir + "/t10k-labels-idx1-ubyte.gz", be32(0x1234));
  expect_error([&] { open("fashion-mnist:" + dir); }, "t10k-labels-idx1-ubyte.gz: not an IDX label file");
}

TEST(DecathlonDataset, ReadsCocoStyleAnnotations) {
  const std::string dir = temp_dir("decathlon");
  fs::create_directories(dir + "/annotations");
  fs::create_directories(dir + "/data/toy/train");
  nlohmann::json train, val;
  train["categories"] = {{{"id", 20}, {"name", "two"}}, {{"id", 10}, {"name", "one"}}};
  val["categories"] = train["categories"];
  for (int i = 0; i < 6; ++i) {
    const std::string file = "data/toy/train/" + std::to_string(i) + ".png";
    testing::write_test_png(dir + "/" + file, 8, uint8_t(i));
    nlohmann::json& doc = i < 4 ? train : val;
    doc["images"].push_back({{"id", 100 + i}, {"file_name", file}});
    doc["annotations"].push_back({{"id", i}, {"image_id", 100 + i}, {"category_id", i % 2 ? 20 : 10}});
  }
  fs::write_json_atomic(dir + "/annotations/toy_train.json", train);
  fs::write_json_atomic(dir + "/annotations/toy_val.json", val);
  const Splits s = open("decathlon:" + dir + "/annotations/toy_train.json," + dir + "/annotations/toy_val.json", 0);
  EXPECT_EQ(s.classes, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(s.train_indices.size(), 4u);
  EXPECT_EQ(s.test_indices.size(), 2u);
  EXPECT_EQ(s.train->label(1), 1);
  EXPECT_EQ(s.train->image(2).height, 8);
  val["annotations"][0]["category_id"] = 99;
  fs::write_json_atomic(dir + "/annotations/toy_val.json", val);
  expect_error([&] { open("decathlon:" + dir + "/annotations/toy_train.json," + dir + "/annotations/toy_val.json"); },
               "category_id 99");
}

}  // namespace
}  // namespace aft::data
