// End-to-end check against PyTorch itself: tools/export_torchvision.py exports torchvision
// models (random weights, perturbed BN statistics), an input, eval logits and gradients; the
// C++ models must have the same keys and reproduce logits and gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <iostream>

#include "aft/core/fs.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"

using namespace aft::models;
namespace stdfs = std::filesystem;

namespace {

struct Case {
  std::string name, arch, stem;
  int64_t image, classes, batch;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"resnet18", "resnet18", "imagenet", 64, 10, 2},
      {"resnet18_small", "resnet18", "small", 32, 7, 2},
      {"resnet50", "resnet50", "imagenet", 64, 10, 2},
      {"vit_b_16", "vit_b_16", "imagenet", 224, 10, 1},
  };
  return all;
}

std::string source_dir() {
  if (const char* env = std::getenv("AFT_SOURCE_DIR")) return env;
#ifdef AFT_SOURCE_DIR
  return AFT_SOURCE_DIR;
#endif
  for (auto dir = stdfs::current_path(); !dir.empty(); dir = dir.parent_path()) {
    if (stdfs::exists(dir / "tools/export_torchvision.py")) return dir.string();
    if (dir == dir.parent_path()) break;
  }
  return ".";
}

std::string work_dir() { return ::testing::TempDir() + "/aft_torchvision_equivalence"; }
std::string file_of(const Case& c, const std::string& what) { return work_dir() + "/" + c.name + "." + what + ".safetensors"; }

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max().clamp_min(1e-12)).item<double>();
}

}  // namespace

class ModelsTorchvision : public ::testing::Test {
 protected:
  // ctest runs every test in its own process, so each test exports only the case it checks.
  static void SetUpTestSuite() {
    const std::string script = source_dir() + "/tools/export_torchvision.py";
    if (!stdfs::exists(script)) {
      skip_reason_ = "cannot find " + script + " (set AFT_SOURCE_DIR)";
      return;
    }
    if (std::system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
      skip_reason_ = "/usr/bin/python3 lacks torch/torchvision";
    }
  }

  // Runs tools/export_torchvision.py for one case (once per process).
  static void export_case(const Case& c) {
    static std::set<std::string> done;
    if (done.count(c.name)) return;
    aft::fs::create_directories(work_dir());
    const std::string jobs = work_dir() + "/" + c.name + ".jobs.txt";
    {
      std::ofstream out(jobs);
      out << "--arch " << c.arch << " --stem " << c.stem << " --image-size " << c.image << " --num-classes "
          << c.classes << " --batch " << c.batch << " --seed 5 --perturb --out " << file_of(c, "weights")
          << " --input-out " << file_of(c, "input") << " --reference-out " << file_of(c, "reference") << "\n";
    }
    const std::string command = "/usr/bin/python3 " + source_dir() + "/tools/export_torchvision.py --jobs " + jobs;
    ASSERT_EQ(std::system(command.c_str()), 0) << "tools/export_torchvision.py failed: " << command;
    done.insert(c.name);
  }

  static void TearDownTestSuite() {
    if (stdfs::exists(work_dir())) aft::fs::remove_all(work_dir());  // large exports
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }

  static void check_case(const Case& c) {
    export_case(c);
    if (::testing::Test::HasFatalFailure()) return;
    ModelConfig config;
    config.arch = c.arch;
    config.stem = c.stem;
    config.image_size = c.image;
    config.num_classes = c.classes;
    auto model = build_model(config);

    const auto weights = aft::safetensors::read(file_of(c, "weights"));
    std::set<std::string> file_keys, model_keys;
    for (const auto& [k, t] : weights.tensors) file_keys.insert(k);
    for (const auto& [k, t] : state_dict(*model)) model_keys.insert(k);
    EXPECT_EQ(file_keys, model_keys);
    load_state_dict(*model, TensorMap(weights.tensors.begin(), weights.tensors.end()), {}, file_of(c, "weights"));
    model->eval();

    const auto x = aft::safetensors::read(file_of(c, "input")).tensors.at("input");
    const auto ref = aft::safetensors::read(file_of(c, "reference")).tensors;
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = model->forward(x);
    }
    const double logit_error = relative_error(logits, ref.at("logits"));
    EXPECT_LT(logit_error, 1e-4) << c.name;

    // Same loss as the exporter: eval mode, L = sum(logits * w).
    model->zero_grad();
    (model->forward(x) * ref.at("loss_weights")).sum().backward();
    auto params = model->named_parameters(true);
    double grad_error = 0;
    int checked = 0;
    for (const auto& [key, want] : ref) {
      if (key.rfind("grad.", 0) != 0) continue;
      const torch::Tensor& got = params[key.substr(5)].grad();
      ASSERT_TRUE(got.defined()) << key;
      const double e = relative_error(got, want);
      EXPECT_LT(e, 1e-3) << c.name << " " << key;
      grad_error = std::max(grad_error, e);
      ++checked;
    }
    EXPECT_GE(checked, 5);
    std::cout << "[ " << c.name << " ] max relative logit error " << logit_error << ", max relative gradient error "
              << grad_error << " over " << checked << " tensors\n";
  }

  static inline std::string skip_reason_;
};

TEST_F(ModelsTorchvision, Resnet18) { check_case(cases()[0]); }
TEST_F(ModelsTorchvision, Resnet18SmallStem) { check_case(cases()[1]); }
TEST_F(ModelsTorchvision, Resnet50) { check_case(cases()[2]); }
TEST_F(ModelsTorchvision, VitB16) { check_case(cases()[3]); }

#ifdef AFT_BINARY
// `aft forward` reproduces the exported logits from files alone, inferring the class count.
TEST_F(ModelsTorchvision, ForwardCommand) {
  const Case& c = cases()[1];
  export_case(c);
  if (HasFatalFailure()) return;
  const std::string output = work_dir() + "/forward_out.safetensors";
  const std::string command = std::string(AFT_BINARY) + " forward --model resnet18 --stem small --weights " +
                              file_of(c, "weights") + " --input " + file_of(c, "input") + " --output " + output;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const auto logits = aft::safetensors::read(output).tensors.at("logits");
  const auto ref = aft::safetensors::read(file_of(c, "reference")).tensors.at("logits");
  EXPECT_LT(relative_error(logits, ref), 1e-4);
}
#endif
