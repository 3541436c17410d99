// What aft must never do to a user's files, and the inputs it must refuse with one clear
// line: --overwrite of folders aft did not write, a second writer, damaged weights and
// checkpoints, options out of range, decompression bombs, and --resume RUN on its own.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "aft/core/fs.h"
#include "aft/data/png_write.h"
#include "aft/models/safetensors.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::expect_one_line_error;
using aft_test::run;
namespace stdfs = std::filesystem;

class Safety : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_safety_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1 --per-class 16 --test-per-class 4");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + dir_ + "/src --epochs 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string tiny() { return "--model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet"; }
  static size_t files_under(const std::string& path) {
    size_t n = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(path)) n += e.is_regular_file() ? 1 : 0;
    return n;
  }
  static std::string dir_;
};
std::string Safety::dir_;

TEST_F(Safety, OverwriteNeverRemovesAFolderAftDidNotWrite) {
  const std::string mine = dir_ + "/thesis";
  aft::fs::create_directories(mine);
  aft::fs::write_file_atomic(mine + "/thesis.txt", "years of work");
  expect_one_line_error(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + mine + " --overwrite"),
                        "not an aft run directory");
  EXPECT_EQ(aft::fs::read_file(mine + "/thesis.txt"), "years of work");
  // Without --overwrite too: aft does not write its files among the user's.
  expect_one_line_error(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + mine), "not an aft run directory");
  EXPECT_FALSE(aft::fs::exists(mine + "/config.json"));
}

TEST_F(Safety, OverwriteNeverRemovesTheDataOrTheWeights) {
  const size_t images = files_under(dir_ + "/fm");
  expect_one_line_error(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + dir_ + "/fm --overwrite"),
                        "--out");
  EXPECT_EQ(files_under(dir_ + "/fm"), images);
  // The weights' own run is an aft run, but it is this job's input.
  expect_one_line_error(run("finetune " + tiny() + " --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
                            "/src --overwrite"),
                        "input");
  EXPECT_TRUE(aft::fs::exists(dir_ + "/src/model.safetensors"));
  // Nor a multi-source job's sources.
  expect_one_line_error(run("finetune --method multisource --source " + dir_ + "/src --source " + dir_ +
                            "/src --frozen 1,1 --batch-size 8 --threads 1 --quiet --data " + dir_ + "/fm --out " + dir_ +
                            "/src --overwrite"),
                        "input");
  EXPECT_TRUE(aft::fs::exists(dir_ + "/src/model.safetensors"));
  // `aft data` refuses to replace a folder it did not generate.
  expect_one_line_error(run("data fashion-mnist --out " + dir_ + "/src --classes 0,1 --per-class 2 --overwrite"),
                        "not an aft dataset folder");
  EXPECT_TRUE(aft::fs::exists(dir_ + "/src/model.safetensors"));
}

TEST_F(Safety, GeneratorsLeaveAFolderNamedLikeTheirTemporaryAlone) {
  const std::string out = dir_ + "/gen";
  aft::fs::create_directories(out + ".tmp");
  aft::fs::write_file_atomic(out + ".tmp/keep.txt", "mine");
  const auto r = run("data fashion-mnist --out " + out + " --classes 0,1 --per-class 2 --test-per-class 2");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(aft::fs::read_file(out + ".tmp/keep.txt"), "mine");
  EXPECT_TRUE(aft::fs::exists(out + "/aft-data.json"));
}

TEST_F(Safety, OverwriteReplacesAnAftRun) {
  const std::string out = dir_ + "/again";
  ASSERT_EQ(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 1").code, 0);
  const auto r = run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 1 --overwrite");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));
  EXPECT_FALSE(aft::fs::exists(out + "/.lock"));
}

TEST_F(Safety, ASecondWriterIsRefusedAndAStaleLockIsTakenOver) {
  const std::string out = dir_ + "/locked";
  aft::fs::create_directories(out);
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  // A live holder: this test process.
  aft::fs::write_file_atomic(out + "/.lock", std::to_string(::getpid()) + " " + host + "\n");
  expect_one_line_error(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 1"),
                        "another aft process");
  // A holder that was killed: a child that has already exited.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  aft::fs::write_file_atomic(out + "/.lock", std::to_string(child) + " " + host + "\n");
  const auto r = run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 1");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no longer runs"), std::string::npos) << r.output;
  EXPECT_FALSE(aft::fs::exists(out + "/.lock"));
}

TEST_F(Safety, ResumeNeedsOnlyTheRun) {
  const std::string out = dir_ + "/half";
  ASSERT_EQ(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 2").code, 0);
  aft::fs::remove_all(out + "/summary.json");  // as if it had been interrupted
  expect_one_line_error(run("pretrain --resume " + out + " --data /nonexistent/elsewhere --quiet"), "differs");
  const auto r = run("pretrain --resume " + out + " --quiet");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));
}

TEST_F(Safety, DamagedCheckpointsNameTheFileAndTheProblem) {
  const std::string out = dir_ + "/edited";
  ASSERT_EQ(run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out + " --epochs 2").code, 0);
  aft::fs::remove_all(out + "/summary.json");
  auto state = aft::fs::read_json(out + "/checkpoint/state.json");
  for (int done : {99, -1}) {
    state["epochs_done"] = done;
    aft::fs::write_json_atomic(out + "/checkpoint/state.json", state);
    expect_one_line_error(run("pretrain --resume " + out + " --quiet"), "state.json");
  }
  state["epochs_done"] = 1;
  aft::fs::write_json_atomic(out + "/checkpoint/state.json", state);
  aft::fs::write_file_atomic(out + "/checkpoint/optimizer.pt", "not an archive");
  expect_one_line_error(run("pretrain --resume " + out + " --quiet"), "optimizer.pt");
}

TEST_F(Safety, NonFiniteWeightsAreRefusedNamingTheTensor) {
  auto file = aft::safetensors::read(dir_ + "/src/model.safetensors");
  std::string victim;
  for (auto& [name, t] : file.tensors) {
    if (name.find("running_var") != std::string::npos) {
      victim = name;
      t = t.clone();
      t.view({-1})[0] = std::nan("");
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  const std::string bad = dir_ + "/nan.safetensors";
  aft::safetensors::write(bad, file.tensors, file.metadata);
  expect_one_line_error(run("finetune " + tiny() + " --weights " + bad + " --data " + dir_ + "/fm --out " + dir_ +
                            "/from-nan --epochs 1"),
                        victim);
  EXPECT_FALSE(aft::fs::exists(dir_ + "/from-nan"));
}

TEST_F(Safety, OptionsOutOfRangeAreRefused) {
  const std::string base = "pretrain " + tiny() + " --data " + dir_ + "/fm --out " + dir_ + "/opt";
  std::string negative_threads = base;
  negative_threads.replace(negative_threads.find("--threads 1"), 11, "--threads -3");
  expect_one_line_error(run(negative_threads), "--threads");
  expect_one_line_error(run(base + " --lr inf"), "--lr");
  expect_one_line_error(run(base + " --image-size 1"), "--image-size");
  expect_one_line_error(run(base + " --epochs 0"), "--epochs");
  expect_one_line_error(run(base + " --momentum 1.5"), "--momentum");
  // A refused device is refused before the run directory exists.
  expect_one_line_error(run(base + " --device cuda:7"), "cuda");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/opt"));
  // Divergence says so, and promises no checkpoint when there is none.
  const auto r = run(base + " --lr 1e6 --epochs 1");
  expect_one_line_error(r, "diverged");
  EXPECT_EQ(r.output.find("checkpoint"), std::string::npos) << r.output;
}

TEST_F(Safety, OneClassIsNotAClassificationTask) {
  const std::string one = dir_ + "/one";
  for (const char* split : {"train", "test"}) {
    stdfs::create_directories(one + "/" + split + "/only");
    for (const auto& e : stdfs::directory_iterator(dir_ + "/fm/" + split + "/t-shirt")) {
      stdfs::copy_file(e.path(), one + "/" + split + "/only/" + e.path().filename().string());
    }
  }
  expect_one_line_error(run("pretrain " + tiny() + " --data " + one + " --out " + dir_ + "/one-run"), "at least 2");
}

TEST_F(Safety, PredictRefusesDirectoriesAndDecompressionBombs) {
  expect_one_line_error(run("predict --run " + dir_ + "/src " + dir_ + "/fm"), "is a directory");
  // A valid PNG whose header then claims 20000 x 20000 pixels: refused before any pixel memory.
  const std::string bomb = dir_ + "/bomb.png";
  std::vector<uint8_t> pixels(8 * 8, 128);
  aft::data::write_png(bomb, pixels.data(), 8, 8, 1);
  std::string bytes = aft::fs::read_file(bomb);
  for (int at : {16, 20}) {  // IHDR width, height (big-endian)
    const uint32_t v = 20000;
    bytes[at] = static_cast<char>(v >> 24), bytes[at + 1] = static_cast<char>(v >> 16);
    bytes[at + 2] = static_cast<char>(v >> 8), bytes[at + 3] = static_cast<char>(v);
  }
  aft::fs::write_file_atomic(bomb, bytes);
  expect_one_line_error(run("predict --run " + dir_ + "/src " + bomb), "--max-image-pixels");
}

}  // namespace
