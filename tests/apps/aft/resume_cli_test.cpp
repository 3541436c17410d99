// Searches survive kill -9: a contribution and a multisource search, killed at seeded random
// moments during the search and again during the final training, resume without repeating a
// finished evaluation and end with the same search history and the same weights as a run
// that was never interrupted.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "aft/core/fs.h"
#include "aft/models/safetensors.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::run;

using aft_test::lines_in;
using aft_test::start_and_kill_when;

class ResumeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_resume_cli_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1,2 --per-class 16 --test-per-class 6");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain " + tiny() + " --data " + dir_ + "/fm --out " + dir_ + "/src --epochs 1");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("finetune --method full " + tiny() + " --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
            "/src2 --epochs 1 --seed 5");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string tiny() { return "--model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet"; }

  // Runs `method_args` uninterrupted, then again killed twice (once during the search, at a
  // seeded random number of finished batches, once during the final training) and resumed.
  static void check_kill_and_resume(const std::string& name, const std::string& method_args, const std::string& journal,
                                    int batches, uint32_t seed) {
    const std::string base = "finetune " + method_args + " --data " + dir_ + "/fm --epochs 5 --val-fraction 0.25 " +
                             "--batch-size 8 --threads 1 --quiet";
    const std::string whole = dir_ + "/" + name + "-whole", cut = dir_ + "/" + name + "-cut";
    auto r = run(base + " --out " + whole);
    ASSERT_EQ(r.code, 0) << r.output;

    std::mt19937 rng(seed);
    const int after = 1 + static_cast<int>(rng() % (batches - 1));  // finished batches when killed
    const bool killed = start_and_kill_when(base + " --out " + cut, [&] { return lines_in(cut + "/search/" + journal) >= 1 + after; });
    ASSERT_TRUE(killed) << "the search ended before it could be killed";
    EXPECT_FALSE(aft::fs::exists(cut + "/prepared.json"));
    // Second kill: during the final training, after its first epoch's checkpoint.
    const bool killed_again = start_and_kill_when("finetune --resume " + cut + " --quiet",
                                                  [&] { return aft::fs::exists(cut + "/checkpoint/state.json"); });
    ASSERT_TRUE(killed_again) << "the resumed run ended before it could be killed";
    EXPECT_TRUE(aft::fs::exists(cut + "/prepared.json"));
    r = run("finetune --resume " + cut + " --quiet");
    ASSERT_EQ(r.code, 0) << r.output;

    const auto a = aft::fs::read_json(whole + "/summary.json"), b = aft::fs::read_json(cut + "/summary.json");
    const auto& sa = a.at("method_report").at("search");
    const auto& sb = b.at("method_report").at("search");
    ASSERT_EQ(sa.at("evaluations").size(), sb.at("evaluations").size());
    for (size_t k = 0; k < sa.at("evaluations").size(); ++k) {
      EXPECT_EQ(sa.at("evaluations")[k].at("fitness"), sb.at("evaluations")[k].at("fitness")) << k;
      EXPECT_EQ(sa.at("evaluations")[k].at("val_curve"), sb.at("evaluations")[k].at("val_curve")) << k;
    }
    // The first kill kept `after` batches; the resumed search replayed them rather than training them again.
    EXPECT_GE(sb.at("evaluations_replayed").get<int64_t>(), after);
    EXPECT_EQ(a.at("test_accuracy"), b.at("test_accuracy"));
    const auto wa = aft::safetensors::read(whole + "/model.safetensors");
    const auto wb = aft::safetensors::read(cut + "/model.safetensors");
    ASSERT_EQ(wa.tensors.size(), wb.tensors.size());
    for (const auto& [key, t] : wa.tensors) EXPECT_TRUE(torch::equal(t, wb.tensors.at(key))) << key;
  }
  static std::string dir_;
};
std::string ResumeCli::dir_;

TEST_F(ResumeCli, KilledContributionSearchResumesWhereItStopped) {
  // 3 particles x (1 + 2 iterations), sequential: 9 batches of one evaluation.
  check_kill_and_resume("contribution",
                        "--method contribution --weights " + dir_ + "/src --search-preset fast --particles 3 "
                        "--iterations 2 --proxy-epochs 1",
                        "contribution.jsonl", 9, 17);
}

TEST_F(ResumeCli, KilledMultisourceSearchResumesWhereItStopped) {
  check_kill_and_resume("multisource",
                        "--method multisource --source " + dir_ + "/src --source " + dir_ + "/src2 "
                        "--search-preset fast --particles 3 --iterations 2 --proxy-epochs 1",
                        "multisource.jsonl", 9, 29);
}

}  // namespace
