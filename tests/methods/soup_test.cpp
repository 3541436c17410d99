// Model soups: averaging, the greedy recipe's guarantees, mismatch refusals, and an end-to-end
// soup of two partially fine-tuned runs that `aft eval --run` (load_run) reopens.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/loader.h"
#include "aft/run/job.h"
#include "aft/methods/partial.h"
#include "aft/methods/soup.h"
#include "aft/run/soup_run.h"
#include "aft/models/safetensors.h"
#include "aft/train/evaluate.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::models::TensorMap;

TEST(Soup, AverageIsTheMeanAndKeepsSharedTensorsExact) {
  torch::manual_seed(4);
  const auto shared = torch::randn({3, 3});
  std::vector<TensorMap> states(3);
  for (int i = 0; i < 3; ++i) {
    states[i]["w"] = torch::randn({4, 2});
    states[i]["frozen"] = shared.clone();
    states[i]["bn.num_batches_tracked"] = torch::tensor(int64_t{10 + i});
  }
  const auto avg = aft::methods::average_states({&states[0], &states[1], &states[2]});
  EXPECT_TRUE(torch::allclose(avg.at("w"), (states[0]["w"] + states[1]["w"] + states[2]["w"]) / 3, 1e-6, 1e-7));
  EXPECT_TRUE(torch::equal(avg.at("frozen"), shared));
  EXPECT_EQ(avg.at("bn.num_batches_tracked").item<int64_t>(), 10);
  // A uniform soup of identical ingredients is the ingredient, bit for bit.
  const auto same = aft::methods::average_states({&states[1], &states[1], &states[1]});
  for (const auto& [k, v] : states[1]) EXPECT_TRUE(torch::equal(same.at(k), v)) << k;
}

TEST(Soup, GreedyKeepsTheBestFirstAndNeverDrops) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> val(5);
    for (auto& v : val) v = std::round(u(rng) * 20) / 20;  // ties happen
    std::vector<std::vector<size_t>> asked;
    const auto g = aft::methods::greedy_soup(val, [&](const std::vector<size_t>& m) {
      asked.push_back(m);
      return std::round(u(rng) * 20) / 20;
    });
    const double best = *std::max_element(val.begin(), val.end());
    EXPECT_EQ(val[g.kept.front()], best);
    EXPECT_GE(g.val_accuracy, best);
    ASSERT_EQ(asked.size(), 4u);  // every other ingredient is tried once
    double current = best;
    for (size_t i = 1; i < g.steps.size(); ++i) {
      const double acc = g.steps[i].at("val_accuracy").get<double>();
      EXPECT_EQ(g.steps[i].at("kept").get<bool>(), acc >= current);
      if (acc >= current) current = acc;
    }
    EXPECT_EQ(current, g.val_accuracy);
  }
}

aft::methods::Ingredient fake(const std::string& run, const std::string& weights) {
  aft::methods::Ingredient in;
  in.run = run;
  in.config = {{"model", {{"arch", "resnet18"}, {"num_classes", 3}, {"stem", "small"}, {"width", 0.125}, {"image_size", 16}}},
               {"classes", {"a", "b", "c"}},
               {"transform", {{"preset", "small-noflip"}, {"size", 16}}},
               {"train", {{"val-fraction", 0.25}, {"seed", 0}, {"shots", 0}}},
               {"weights", weights},
               {"method", "partial"}};
  in.state["fc.weight"] = torch::zeros({3, 8});
  return in;
}

void expect_refused(const std::vector<aft::methods::Ingredient>& ingredients, const std::string& words) {
  try {
    aft::methods::check_ingredients(ingredients);
    ADD_FAILURE() << "accepted; expected a refusal naming " << words;
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(Soup, MismatchedIngredientsAreRefusedByName) {
  const std::string dir = aft::data::testing::temp_dir("soup_mismatch");
  aft::fs::write_file_atomic(dir + "/w1.safetensors", "pretrained one");
  aft::fs::write_file_atomic(dir + "/w1copy.safetensors", "pretrained one");
  aft::fs::write_file_atomic(dir + "/w2.safetensors", "pretrained two");
  const auto a = fake("runA", dir + "/w1.safetensors");
  EXPECT_NO_THROW(aft::methods::check_ingredients({a, fake("runB", dir + "/w1copy.safetensors")}));
  auto b = fake("runB", dir + "/w1.safetensors");
  b.config["model"]["arch"] = "resnet34";
  expect_refused({a, b}, "architecture (model.arch) \"resnet34\" but runA has \"resnet18\"");
  expect_refused({a, fake("runB", dir + "/w2.safetensors")}, "starts from pretrained weights");
  b = fake("runB", dir + "/w1.safetensors");
  b.config["model"]["num_classes"] = 4;
  expect_refused({a, b}, "head size (model.num_classes)");
  b = fake("runB", dir + "/w1.safetensors");
  b.config["train"]["seed"] = 1;
  expect_refused({a, b}, "train.seed");
  b = fake("runB", dir + "/w1.safetensors");
  b.state["policy.weight"] = torch::zeros({2});
  expect_refused({a, b}, "policy.weight");
  b = fake("runB", dir + "/w1.safetensors");
  b.state["fc.weight"] = torch::zeros({4, 8});
  expect_refused({a, b}, "fc.weight has shape");
  expect_refused({a, fake("runB", "")}, "no pretrained start");
}

// Two partially fine-tuned tiny ResNets (first half / last half) of one pretrained start.
class SoupRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = aft::data::testing::temp_dir("soup_runs");
    aft::data::testing::make_folder(dir_ + "/data", {"a", "b", "c"}, 12, 4);
    aft::models::save_weights(*aft::testing::tiny_resnet(3, 9), dir_ + "/pretrained.safetensors");
    for (const std::string strategy : {"first-half", "last-half"}) {
      aft::run::JobSpec spec;
      spec.data = dir_ + "/data";
      spec.out = dir_ + "/" + strategy;
      spec.model.weights = dir_ + "/pretrained.safetensors";
      spec.method = "partial";
      auto options = std::make_unique<aft::methods::PartialOptions>();
      options->strategy = strategy;
      options->freeze_bn_stats = true;  // the checks below rely on untouched frozen statistics
      spec.method_options = std::move(options);
      spec.train = aft::testing::tiny_options(2);
      spec.train.val_fraction = 0.25;
      spec.train.batch_size = 8;
      spec.quiet = true;
      aft::run::run_job(spec);
    }
  }
  static aft::run::SoupSpec spec(const std::string& mode, const std::string& out) {
    aft::run::SoupSpec s;
    s.runs = {dir_ + "/first-half", dir_ + "/last-half"};
    s.mode = mode;
    s.out = dir_ + "/" + out;
    s.runtime.device = "cpu";
    s.runtime.threads = 1;
    s.quiet = true;
    return s;
  }
  static inline std::string dir_;
};

TEST_F(SoupRuns, UniformSoupIsTheMeanAndEvalReopensIt) {
  const auto summary = aft::run::make_soup(spec("uniform", "uniform"));
  const auto soup = aft::safetensors::read(dir_ + "/uniform/model.safetensors").tensors;
  const auto a = aft::safetensors::read(dir_ + "/first-half/model.safetensors").tensors;
  const auto b = aft::safetensors::read(dir_ + "/last-half/model.safetensors").tensors;
  const auto pre = aft::safetensors::read(dir_ + "/pretrained.safetensors").tensors;
  for (const auto& [key, t] : soup) {
    if (t.is_floating_point()) EXPECT_TRUE(torch::allclose(t, (a.at(key) + b.at(key)) / 2, 1e-6, 1e-6)) << key;
  }
  // The stem is frozen in both ingredients: it stays the pretrained tensor exactly.
  EXPECT_TRUE(torch::equal(soup.at("conv1.weight"), pre.at("conv1.weight")));
  EXPECT_TRUE(torch::equal(soup.at("bn1.running_mean"), pre.at("bn1.running_mean")));
  const auto& report = summary.at("method_report");
  ASSERT_EQ(report.at("ingredients").size(), 2u);
  for (const auto& row : report.at("ingredients")) {
    EXPECT_TRUE(row.contains("val_accuracy") && row.contains("test_accuracy") && row.at("kept").get<bool>());
  }
  // load_run (aft eval --run) reopens the soup and gets the summary's test accuracy.
  auto loaded = aft::run::load_run(dir_ + "/uniform", "cpu");
  aft::data::DataOptions o;
  o.root = dir_ + "/data";
  o.val_fraction = 0.25;
  const auto splits = aft::data::open_splits(o);
  aft::data::Loader loader(splits.test, splits.test_indices, loaded.eval_transform, {});
  const auto r = aft::train::evaluate(*loaded.method, loader, torch::kCPU);
  EXPECT_NEAR(r.accuracy, summary.at("test_accuracy").get<double>(), 1e-9);
  EXPECT_FALSE(aft::fs::exists(dir_ + "/uniform.tmp." + std::to_string(::getpid())));
  EXPECT_THROW(aft::run::make_soup(spec("uniform", "uniform")), aft::Error);  // exists, no --overwrite
}

TEST_F(SoupRuns, GreedySoupIsNeverBelowItsBestIngredient) {
  auto s = spec("greedy", "greedy");
  s.recalibrate_bn = true;
  const auto summary = aft::run::make_soup(s);
  const auto& report = summary.at("method_report");
  double best = -1;
  for (const auto& row : report.at("ingredients")) best = std::max(best, row.at("val_accuracy").get<double>());
  EXPECT_GE(summary.at("val_accuracy").get<double>(), best);
  ASSERT_FALSE(report.at("kept").empty());
  EXPECT_EQ(report.at("greedy_steps").size(), 2u);
  // Batch norms frozen in every ingredient keep their statistics through recalibration.
  const auto soup = aft::safetensors::read(dir_ + "/greedy/model.safetensors").tensors;
  const auto pre = aft::safetensors::read(dir_ + "/pretrained.safetensors").tensors;
  EXPECT_TRUE(torch::equal(soup.at("bn1.running_var"), pre.at("bn1.running_var")));
}

}  // namespace
