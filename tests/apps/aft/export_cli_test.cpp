// The lora/oft methods and `aft export` through the binary: listed and documented, a LoRA run
// evaluates the same from its run directory and from its merged export, and export never
// replaces a file it did not write.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "aft/core/fs.h"
#include "aft/models/safetensors.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::expect_one_line_error;
using aft_test::run;

class ExportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_export_cli_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    auto r = run("data fashion-mnist --out " + dir_ + "/fm --classes 0,1,2 --per-class 16 --test-per-class 8");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("pretrain --model resnet18 --stem small --width 0.125 --data " + dir_ + "/fm --out " + dir_ +
            "/src --epochs 1 --batch-size 16 --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run("finetune --method lora --rank 2 --weights " + dir_ + "/src/model.safetensors --data " + dir_ +
            "/fm --out " + dir_ + "/lora --epochs 1 --batch-size 16 --lr 0.1 --threads 1 --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  static std::string dir_;
};
std::string ExportCli::dir_;

TEST_F(ExportCli, MethodsListsLoraAndOftWithTheirFlags) {
  const auto methods = run("methods");
  ASSERT_EQ(methods.code, 0) << methods.output;
  EXPECT_NE(methods.output.find("lora"), std::string::npos) << methods.output;
  EXPECT_NE(methods.output.find("oft"), std::string::npos) << methods.output;
  const auto lora = run("finetune --method lora --help");
  for (const char* flag : {"--rank", "--alpha", "--targets"}) {
    EXPECT_NE(lora.output.find(flag), std::string::npos) << flag << "\n" << lora.output;
  }
  const auto oft = run("finetune --method oft --help");
  EXPECT_NE(oft.output.find("--blocks"), std::string::npos) << oft.output;
}

TEST_F(ExportCli, BadTargetsAreRefusedBeforeTheRunDirectoryExists) {
  const std::string common = " --weights " + dir_ + "/src --data " + dir_ + "/fm --epochs 1 --threads 1 --quiet --out ";
  expect_one_line_error(run("finetune --method lora --targets no_such_layer" + common + dir_ + "/bad"), "no_such_layer");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/bad"));
  // 3 blocks do not divide the 8 outputs of a width-0.125 ResNet's first stage.
  expect_one_line_error(run("finetune --method oft --blocks 3" + common + dir_ + "/bad"), "--blocks 3");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/bad"));
}

TEST_F(ExportCli, MergedExportEvaluatesLikeTheRun) {
  const std::string merged = dir_ + "/merged.safetensors";
  auto r = run("export --run " + dir_ + "/lora --out " + merged + " --merge");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto file = aft::safetensors::read(merged);
  EXPECT_EQ(file.metadata.at("aft.export"), "merged");
  EXPECT_EQ(file.metadata.at("arch"), "resnet18");
  // Exactly the base model's names: those of the pretrained weights.
  const auto source = aft::safetensors::read(dir_ + "/src/model.safetensors").tensors;
  EXPECT_EQ(file.tensors.size(), source.size());
  for (const auto& [name, t] : file.tensors) EXPECT_TRUE(source.count(name)) << name;
  // The training moved the merged weights away from the pretrained ones.
  EXPECT_FALSE(torch::equal(file.tensors.at("layer1.0.conv1.weight"), source.at("layer1.0.conv1.weight")));

  r = run("eval --run " + dir_ + "/lora --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto from_run = nlohmann::json::parse(r.output);
  r = run("eval --weights " + merged + " --data " + dir_ + "/fm --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto from_export = nlohmann::json::parse(r.output);
  EXPECT_NEAR(from_export.at("loss").get<double>(), from_run.at("loss").get<double>(), 1e-5);
  EXPECT_EQ(from_export.at("accuracy").get<double>(), from_run.at("accuracy").get<double>());

  // Its own export may be replaced; the unmerged one keeps the adapters under lora.*.
  r = run("export --run " + dir_ + "/lora --out " + merged);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto unmerged = aft::safetensors::read(merged);
  EXPECT_EQ(unmerged.metadata.at("aft.export"), "adapters");
  EXPECT_TRUE(unmerged.tensors.count("lora.layer1.0.conv1.lora_A"));
  EXPECT_TRUE(unmerged.tensors.count("lora.layer1.0.conv1.lora_B"));
}

TEST_F(ExportCli, NeverReplacesAFileItDidNotWrite) {
  const std::string mine = dir_ + "/mine.safetensors";
  { std::ofstream(mine) << "my notes"; }
  expect_one_line_error(run("export --run " + dir_ + "/lora --out " + mine + " --merge"), "not written by aft export");
  EXPECT_EQ(aft::fs::read_file(mine), "my notes");
  // The pretrained weights are safetensors too, but not an export.
  const std::string weights = dir_ + "/src/model.safetensors";
  const auto before = aft::fs::read_file(weights);
  expect_one_line_error(run("export --run " + dir_ + "/lora --out " + weights + " --merge"), "not written by aft export");
  expect_one_line_error(run("export --run " + dir_ + "/lora --out " + dir_ + "/lora/w.safetensors"),
                        "inside the run directory");
  EXPECT_FALSE(aft::fs::exists(dir_ + "/lora/w.safetensors"));
  EXPECT_EQ(aft::fs::read_file(weights), before);
  expect_one_line_error(run("export --run " + dir_ + "/nonexistent --out " + dir_ + "/x.safetensors"), "nonexistent");
}

}  // namespace
