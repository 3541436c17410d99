// The delta and bss methods through the aft binary: listed, their flags documented, and a
// tiny end-to-end fine-tune of each that finishes and reports (delta keeps its attention in
// RUN/prepared.json for --resume).
#include <gtest/gtest.h>

#include <string>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::run;

class RegularizerCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_regularizer_cli_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1,2 --per-class 16 --test-per-class 4");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain --model resnet18 --stem small --width 0.125 --data " + dir_ + "/fm --out " + dir_ +
            "/src --epochs 1 --batch-size 16 --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string finetune(const std::string& method, const std::string& flags) {
    return "finetune --method " + method + " --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ + "/" +
           method + " --epochs 1 --batch-size 16 --threads 1 --quiet " + flags;
  }
  static std::string dir_;
};
std::string RegularizerCli::dir_;

TEST_F(RegularizerCli, ListedWithTheirFlags) {
  auto r = run("methods");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("delta"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bss"), std::string::npos) << r.output;
  r = run("finetune --method delta --help");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* flag : {"--alpha", "--beta", "--attention", "--layers", "--attention-epochs", "--attention-lr",
                           "--attention-batches"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << "\n" << r.output;
  }
  r = run("finetune --method bss --help");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* flag : {"--bss-weight", "--bss-k"}) EXPECT_NE(r.output.find(flag), std::string::npos) << flag;
  aft_test::expect_one_line_error(run(finetune("delta", "--attention maybe")), "--attention");
}

TEST_F(RegularizerCli, DeltaRunsAndKeepsItsAttention) {
  const auto r = run(finetune("delta", "--attention-epochs 2 --attention-batches 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto summary = aft::fs::read_json(dir_ + "/delta/summary.json");
  EXPECT_EQ(summary.at("method_report").at("layers").size(), 4u) << summary.dump();
  const auto prepared = aft::fs::read_json(dir_ + "/delta/prepared.json");
  EXPECT_EQ(prepared.at("state").at("attention").size(), 4u);
  const double accuracy = summary.at("test_accuracy").get<double>();
  EXPECT_TRUE(accuracy >= 0 && accuracy <= 1) << accuracy;
}

TEST_F(RegularizerCli, BssRuns) {
  const auto r = run(finetune("bss", "--bss-k 2"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto config = aft::fs::read_json(dir_ + "/bss/config.json");
  EXPECT_EQ(config.at("method_options").at("bss-k").get<int64_t>(), 2) << config.dump();
  EXPECT_TRUE(aft::fs::exists(dir_ + "/bss/model.safetensors"));
}

}  // namespace
