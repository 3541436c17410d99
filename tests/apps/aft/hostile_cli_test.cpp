// Issue 28's hostile cases from the command line, one test each: files planted inside a run's
// and a dataset's subfolders, two `aft data` on one --out, --out inside the data (through a
// symlink too), a full disk while a checkpoint is written, limits, locks, a run whose weights do
// not load, a truncated config.json and --candidates naming its own flag.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::expect_one_line_error;
using aft_test::run;
namespace stdfs = std::filesystem;

class Hostile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_hostile_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1 --per-class 16 --test-per-class 4");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + dir_ + "/src --epochs 1");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string tiny() { return "--model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet"; }
  static std::string pretrain(const std::string& out) {
    return "pretrain " + tiny() + " --data " + dir_ + "/fm --out " + out;
  }
  static void plant(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  static std::string host() {
    char buffer[256] = {0};
    ::gethostname(buffer, sizeof(buffer) - 1);
    return buffer;
  }
  static std::string dir_;
};
std::string Hostile::dir_;

// 1. A user's file anywhere inside a run directory stops --overwrite, which names it.
TEST_F(Hostile, OverwriteChecksEverySubfolderOfARun) {
  const std::string out = dir_ + "/run1";
  ASSERT_EQ(run(pretrain(out) + " --epochs 1").code, 0);
  ASSERT_TRUE(stdfs::is_directory(out + "/tb") && stdfs::is_directory(out + "/checkpoint"));
  for (const std::string sub : {"tb", "checkpoint"}) {
    plant(out + "/" + sub + "/note.txt", "mine");
    expect_one_line_error(run(pretrain(out) + " --epochs 1 --overwrite"), sub + "/note.txt");
    EXPECT_EQ(aft::fs::read_file(out + "/" + sub + "/note.txt"), "mine");
    EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));  // nothing of the old run went either
    stdfs::remove(out + "/" + sub + "/note.txt");
  }
  const auto r = run(pretrain(out) + " --epochs 1 --overwrite");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));
  // aft report writing into the run is aft's too: a later --overwrite still replaces the run.
  ASSERT_EQ(run("report " + out + " --out " + out + "/report.html").code, 0);
  EXPECT_EQ(run(pretrain(out) + " --epochs 1 --overwrite").code, 0);
}

// 2. Likewise inside a dataset's class folders.
TEST_F(Hostile, DataOverwriteChecksTheClassFolders) {
  const std::string out = dir_ + "/data2";
  const std::string make = "data fashion-mnist --out " + out + " --classes 0,1 --per-class 2 --test-per-class 2";
  ASSERT_EQ(run(make).code, 0);
  for (const std::string extra : {"train/t-shirt/mine.txt", "test/trouser/99999.png"}) {
    plant(out + "/" + extra, "mine");
    expect_one_line_error(run(make + " --overwrite"), extra);
    EXPECT_EQ(aft::fs::read_file(out + "/" + extra), "mine");
    stdfs::remove(out + "/" + extra);
  }
  EXPECT_EQ(run(make + " --overwrite").code, 0);
  // data split checks the same way.
  const std::string split = dir_ + "/split2";
  ASSERT_EQ(run("data split --data " + out + " --out " + split).code, 0);
  plant(split + "/val/mine.txt", "mine");
  expect_one_line_error(run("data split --data " + out + " --out " + split + " --overwrite"), "val/mine.txt");
  EXPECT_TRUE(aft::fs::exists(split + "/val/mine.txt"));
}

// 3./4. Two `aft data` on one --out at the same moment: exactly one writes it.
TEST_F(Hostile, TwoDataCommandsOnOneOutNeverBothSucceed) {
  for (int trial = 0; trial < 3; ++trial) {
    const std::string out = dir_ + "/race" + std::to_string(trial);
    const std::string cmd = std::string(AFT_BINARY) + " data fashion-mnist --out " + out +
                            " --classes 0,1 --per-class 8 --test-per-class 4 >/dev/null 2>&1";
    pid_t pids[2];
    for (auto& pid : pids) {
      pid = ::fork();
      if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
      }
    }
    int succeeded = 0;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      succeeded += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    EXPECT_EQ(succeeded, 1) << "trial " << trial;
    EXPECT_TRUE(aft::fs::exists(out + "/aft-data.json"));
    EXPECT_FALSE(aft::fs::exists(out + ".aft-lock"));
  }
}

// 5. --out inside the data, at any depth and through a symlink; and the data inside --out.
TEST_F(Hostile, OutInsideAnInputIsRefused) {
  const std::string fm = dir_ + "/fm";
  for (const std::string out : {fm + "/train/ZZ", fm + "/train/t-shirt/deep/er"}) {
    expect_one_line_error(run(pretrain(out) + " --epochs 1"), "inside this job's input");
    EXPECT_FALSE(aft::fs::exists(out));
  }
  stdfs::create_directory_symlink(fm + "/train", dir_ + "/trainlink");
  expect_one_line_error(run(pretrain(dir_ + "/trainlink/ZZ") + " --epochs 1"), "inside this job's input");
  EXPECT_FALSE(aft::fs::exists(fm + "/train/ZZ"));
  expect_one_line_error(run("data split --data " + fm + " --out " + fm + "/train/split"), "inside this job's input");
  expect_one_line_error(run("finetune " + tiny() + " --weights " + dir_ + "/src --data " + fm + " --out " + dir_ +
                            "/src/inner --epochs 1"),
                        "inside this job's input");
  // The data still opens: no class folder was added.
  EXPECT_EQ(run("data info " + fm).code, 0);
}

// 6. A full disk while checkpoint/optimizer.pt is written: one line, the last checkpoint kept,
// no lock or temporary left, and --resume finishes the run.
TEST_F(Hostile, AFullDiskWritingTheOptimizerIsOneLineAndResumable) {
  const std::string out = dir_ + "/full";
  // The second write of optimizer.pt (epoch 2's checkpoint) fails as on a full disk.
  const std::string cmd = "AFT_TEST_FAIL_WRITE=optimizer.pt@2 " + std::string(AFT_BINARY) + " " + pretrain(out) +
                          " --epochs 3 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << output;
  EXPECT_NE(output.find("optimizer.pt"), std::string::npos) << output;
  EXPECT_NE(output.find("disk full"), std::string::npos) << output;
  EXPECT_NE(output.find("at epoch 1, is kept"), std::string::npos) << output;
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  EXPECT_FALSE(aft::fs::exists(out + "/.lock"));
  EXPECT_FALSE(aft::fs::exists(out + "/checkpoint.tmp"));
  EXPECT_EQ(aft::fs::read_json(out + "/checkpoint/state.json")["epochs_done"], 1);
  const auto resumed = run("pretrain --resume " + out + " --quiet");
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));
}

// 7. Limits: threads capped at the cores with a warning, workers bounded, --width in range,
// an image size beyond the memory refused before anything is allocated; help states ranges.
TEST_F(Hostile, LimitsAreEnforcedInOneLine) {
  const std::string out = dir_ + "/limits";
  const std::string more = std::to_string(std::thread::hardware_concurrency() + 1);
  std::string many = pretrain(out) + " --epochs 1";
  many.replace(many.find("--threads 1"), 11, "--threads " + more);
  const auto r = run(many);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--threads " + more + ": more than the"), std::string::npos) << r.output;
  std::string absurd = pretrain(dir_ + "/limits2");
  absurd.replace(absurd.find("--threads 1"), 11, "--threads 10000");
  expect_one_line_error(run(absurd), "--threads 10000: must be in [0, 4096]");
  expect_one_line_error(run(pretrain(dir_ + "/limits2") + " --workers 10000"), "--workers 10000");
  // tiny() already gives --width and --batch-size: replace them (a flag given twice is CLI11's error).
  std::string negative = pretrain(dir_ + "/limits2");
  negative.replace(negative.find("--width 0.125"), 13, "--width -1");
  expect_one_line_error(run(negative), "--width -1");
  std::string huge = pretrain(dir_ + "/limits2") + " --image-size 4096";
  huge.replace(huge.find("--batch-size 8"), 14, "--batch-size 64");
  expect_one_line_error(run(huge), "--image-size 4096");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/limits2"));
  const auto help = run("pretrain --help");
  EXPECT_NE(help.output.find("[1, 1024]"), std::string::npos) << help.output;
}

// 8. Locks: an empty lock file is taken over; a live holder is named by pid and host.
TEST_F(Hostile, LocksNamePidAndHostAndAnEmptyLockIsTakenOver) {
  const std::string out = dir_ + "/locks";
  aft::fs::create_directories(out);
  plant(out + "/.lock", "");
  const auto r = run(pretrain(out) + " --epochs 1");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(aft::fs::exists(out + "/.lock"));
  plant(out + "/.lock", std::to_string(::getpid()) + " " + host() + "\n");
  expect_one_line_error(run(pretrain(out) + " --epochs 1 --overwrite"),
                        "pid " + std::to_string(::getpid()) + " on " + host());
  stdfs::remove(out + "/.lock");
}

// 9. A run whose weights do not load leaves nothing; a truncated config.json says so.
TEST_F(Hostile, AFailedStartLeavesNoFolderAndATruncatedConfigIsNamed) {
  const std::string out = dir_ + "/badload";
  // Weights of width 0.125 into a model of width 0.25: the load fails after the run started.
  std::string wider = "finetune " + tiny() + " --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + out +
                      " --epochs 1";
  wider.replace(wider.find("--width 0.125"), 13, "--width 0.25");
  const auto r = run(wider);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_FALSE(aft::fs::exists(out)) << r.output;
  const std::string half = dir_ + "/truncated";
  ASSERT_EQ(run(pretrain(half) + " --epochs 1").code, 0);
  stdfs::remove(half + "/summary.json");
  const std::string config = aft::fs::read_file(half + "/config.json");
  std::ofstream(half + "/config.json", std::ios::trunc) << config.substr(0, config.size() / 2);
  expect_one_line_error(run("pretrain --resume " + half + " --quiet"), "truncated");
}

// 10. --candidates names itself.
TEST_F(Hostile, CandidatesErrorsNameTheirFlag) {
  expect_one_line_error(run("finetune --method auto --candidates bogus --weights x --data y --out z"),
                        "--candidates bogus: unknown method");
}

}  // namespace
