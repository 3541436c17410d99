// End-to-end checks of the aft binary: a tiny pretrain -> finetune -> eval -> predict chain,
// and the bad-input cases that must give one clear error line and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <cstdio>
#include <string>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::expect_one_line_error;
using aft_test::run;
using aft_test::Result;

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_cli_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1,2 --per-class 24 --test-per-class 8");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("data fashion-mnist --out " + dir_ + "/fm4 --classes 0,1,2,3 --per-class 8 --test-per-class 4");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain --model resnet18 --stem small --width 0.125 --data " + dir_ + "/fm --out " + dir_ +
            "/src --epochs 1 --batch-size 16 --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string dir_;
};
std::string Cli::dir_;

TEST_F(Cli, PretrainWritesACompleteRunDirectory) {
  for (const char* f : {"config.json", "model.safetensors", "metrics.jsonl", "summary.json", "checkpoint/state.json"}) {
    EXPECT_TRUE(aft::fs::exists(dir_ + "/src/" + f)) << f;
  }
  const auto summary = aft::fs::read_json(dir_ + "/src/summary.json");
  for (const char* key : {"method", "model", "test_accuracy", "best_val_accuracy", "trainable_params", "total_params",
                          "seconds", "images_per_second", "method_report"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
}

TEST_F(Cli, FinetuneEvalPredict) {
  auto r = run("finetune --method linear --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
               "/lin --epochs 1 --batch-size 16 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("test accuracy"), std::string::npos) << r.output;
  r = run("eval --run " + dir_ + "/lin --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto summary = aft::fs::read_json(dir_ + "/lin/summary.json");
  EXPECT_NEAR(j.at("accuracy").get<double>(), summary.at("test_accuracy").get<double>(), 1e-9);
  // Predict on a real file from the test split.
  std::string image;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/fm/test/t-shirt")) { image = e.path(); break; }
  r = run("predict --run " + dir_ + "/lin --topk 2 --json " + image);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto p = nlohmann::json::parse(r.output);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].at("top").size(), 2u);
}

TEST_F(Cli, RefusesToOverwriteAFinishedRun) {
  expect_one_line_error(run("pretrain --model resnet18 --data " + dir_ + "/fm --out " + dir_ + "/src --quiet"),
                        "finished run");
}

TEST_F(Cli, WeightsForAnotherArchitecture) {
  expect_one_line_error(run("finetune --model resnet50 --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
                            "/bad --quiet"),
                        "resnet18");
}

TEST_F(Cli, ClassCountMismatchOnEval) {
  expect_one_line_error(run("eval --weights " + dir_ + "/src --data " + dir_ + "/fm4"), "3-class head");
}

TEST_F(Cli, ResumeWithAnotherConfiguration) {
  auto r = run("pretrain --model resnet18 --stem small --width 0.125 --data " + dir_ + "/fm --out " + dir_ +
               "/half --epochs 2 --batch-size 16 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  aft::fs::remove_all(dir_ + "/half/summary.json");  // as if it had been interrupted
  expect_one_line_error(run("pretrain --data " + dir_ + "/fm --resume " + dir_ + "/half --lr 0.5"), "--lr");
}

// Issue 26: a method's own flag given again with --resume is parsed (the CLI takes the method from
// the run's config.json) and compared with the run's value, not with the method's default.
TEST_F(Cli, ResumeComparesAMethodFlagWithTheRunsOwn) {
  const std::string out = dir_ + "/lora4";
  auto r = run("finetune --method lora --rank 4 --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + out +
               " --epochs 1 --batch-size 16 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  aft::fs::remove_all(out + "/summary.json");  // as if it had been interrupted
  // The same value, without --method: accepted, and the run finishes.
  r = run("finetune --resume " + out + " --rank 4 --quiet");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(aft::fs::exists(out + "/summary.json"));
  aft::fs::remove_all(out + "/summary.json");
  // Another value is refused, naming both; the default (8) too, which used to train at 4 silently.
  const auto other = run("finetune --resume " + out + " --rank 16");
  expect_one_line_error(other, "--rank 16 differs from the run's --rank 4");
  expect_one_line_error(run("finetune --resume " + out + " --method lora --rank 8"), "--rank 8 differs from the run's --rank 4");
  expect_one_line_error(run("finetune --resume " + out + " --method full"), "differs from the run's method lora");
}

// Issue 26: `aft eval --split val` reopens the run's own splits, --skip-bad included: the same
// validation images, so the accuracy is the one the run measured at its last epoch.
TEST_F(Cli, EvalOnTheValidationSplitAfterSkipBad) {
  const std::string data = dir_ + "/fmbad", out = dir_ + "/skipbad";
  std::filesystem::copy(dir_ + "/fm", data, std::filesystem::copy_options::recursive);
  std::string victim;
  for (const auto& e : std::filesystem::directory_iterator(data + "/train/t-shirt")) {
    if (victim.empty() || e.path().string() < victim) victim = e.path().string();
  }
  aft::fs::write_file_atomic(victim, aft::fs::read_file(victim).substr(0, 40));  // a truncated PNG
  auto r = run("finetune --method linear --skip-bad --val-fraction 0.25 --weights " + dir_ + "/src --data " + data +
               " --out " + out + " --epochs 1 --batch-size 16 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("eval --run " + out + " --split val --json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("skipping unreadable"), std::string::npos) << "the skip is reported: " << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const auto config = aft::fs::read_json(out + "/config.json");
  const auto summary = aft::fs::read_json(out + "/summary.json");
  EXPECT_EQ(j.at("samples").get<int64_t>(), config.at("data_splits").at("val").get<int64_t>());
  EXPECT_NEAR(j.at("accuracy").get<double>(), summary.at("final_val_accuracy").get<double>(), 1e-9);
}

TEST_F(Cli, UnknownChoicesListTheValidOnes) {
  expect_one_line_error(run("finetune --method nope --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ + "/x"),
                        "full|linear");
  expect_one_line_error(run("pretrain --model resnet18 --optimizer adam --data " + dir_ + "/fm --out " + dir_ + "/x"),
                        "sgd|adamw");
  expect_one_line_error(run("finetune --weights /nonexistent.safetensors --data " + dir_ + "/fm --out " + dir_ + "/x"),
                        "/nonexistent.safetensors");
}

TEST_F(Cli, MissingDataFolder) {
  expect_one_line_error(run("pretrain --model resnet18 --data /nonexistent/data --out " + dir_ + "/y"), "/nonexistent/data");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/y/summary.json"));
}

TEST_F(Cli, ReportWritesOneHtmlFileAndRefusesNonRuns) {
  if (!aft::fs::exists("/usr/share/javascript/chart.js/chart.min.js")) GTEST_SKIP() << "libjs-chart.js is not installed";
  const std::string out = dir_ + "/report.html";
  auto r = run("report " + dir_ + "/src --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(out), std::string::npos) << "prints the path: " << r.output;
  const std::string html = aft::fs::read_file(out);
  EXPECT_NE(html.find("id=\"run0-curves\""), std::string::npos);
  EXPECT_NE(html.find("Chart.js v"), std::string::npos);
  EXPECT_TRUE(aft::fs::is_directory(dir_ + "/src/tb")) << "pretraining wrote TensorBoard events";

  aft::fs::remove_all(dir_ + "/bad.html");
  expect_one_line_error(run("report " + dir_ + "/src /nonexistent/run --out " + dir_ + "/bad.html"), "/nonexistent/run");
  expect_one_line_error(run("report " + dir_ + "/fm --out " + dir_ + "/bad.html"), "not a finished run directory");
  expect_one_line_error(run("report " + dir_ + "/src --chart-js /nonexistent/chart.js --out " + dir_ + "/bad.html"),
                        "libjs-chart.js");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/bad.html"));
}

}  // namespace

namespace {

TEST_F(Cli, MultisourceFinetuneEvalPredict) {
  // Two sources: the Fashion-MNIST model and the same network fine-tuned further (another "domain").
  auto r = run("finetune --method full --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
               "/src2 --epochs 1 --batch-size 16 --threads 1 --seed 5 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("finetune --method multisource --source resnet18=" + dir_ + "/src --source " + dir_ + "/src2 --frozen 2,5 --data " +
          dir_ + "/fm --out " + dir_ + "/ms --epochs 1 --batch-size 16 --threads 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ensemble (summed logits)"), std::string::npos) << r.output;
  const auto summary = aft::fs::read_json(dir_ + "/ms/summary.json");
  const auto& report = summary.at("method_report");
  ASSERT_EQ(report.at("sources").size(), 2u);
  EXPECT_EQ(report.at("sources")[1].at("frozen"), 5);
  EXPECT_TRUE(report.at("sources")[0].contains("test_accuracy"));
  EXPECT_NEAR(report.at("ensemble_test_accuracy").get<double>(), summary.at("test_accuracy").get<double>(), 1e-9);
  r = run("eval --run " + dir_ + "/ms --json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NEAR(nlohmann::json::parse(r.output).at("accuracy").get<double>(), summary.at("test_accuracy").get<double>(), 1e-9);
  std::string image;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/fm/test/t-shirt")) { image = e.path(); break; }
  r = run("predict --run " + dir_ + "/ms --json " + image);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output).size(), 1u);
}

TEST_F(Cli, MultisourceNeedsTwoSourcesAndNoWeights) {
  expect_one_line_error(run("finetune --method multisource --source " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
                            "/ms1 --quiet"),
                        "at least two --source");
  expect_one_line_error(run("finetune --method multisource --source " + dir_ + "/src --source " + dir_ + "/src --weights " +
                            dir_ + "/src --data " + dir_ + "/fm --out " + dir_ + "/ms2 --quiet"),
                        "--weights");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/ms1/config.json"));
}

}  // namespace

namespace {

// --augment is a training option like the others: it reaches config.json, --help shows it,
// and an unknown policy is one error line.
TEST_F(Cli, AugmentIsRecordedInConfig) {
  auto r = run("finetune --method full --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
               "/ta --epochs 1 --batch-size 16 --threads 1 --quiet --augment trivialaugment");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto config = aft::fs::read_json(dir_ + "/ta/config.json");
  EXPECT_EQ(config.at("train").at("augment"), "trivialaugment");
  EXPECT_EQ(config.at("train").at("ra-ops"), 2);
  EXPECT_EQ(config.at("train").at("ra-magnitude"), 9);
  r = run("finetune --help");
  EXPECT_NE(r.output.find("--augment"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--ra-magnitude"), std::string::npos) << r.output;
  expect_one_line_error(run("finetune --method full --weights " + dir_ + "/src --data " + dir_ + "/fm --out " + dir_ +
                            "/aa --quiet --augment autoaugment"),
                        "trivialaugment");
}

}  // namespace
