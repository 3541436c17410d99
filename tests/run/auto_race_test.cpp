// --method auto: the successive-halving plan, the folds, the budget's accounting against a direct
// count, and two constructed tasks whose right answer is known.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <random>
#include <set>

#include "aft/core/fs.h"
#include "aft/data/png_write.h"
#include "aft/methods/auto_options.h"
#include "aft/models/weights.h"
#include "aft/report/html_report.h"
#include "aft/run/auto_race.h"
#include "aft/run/race_policy.h"
#include "aft/run/job.h"
#include "aft/train/work.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

TEST(AutoRace, PlanHalvesCandidatesAndDoublesEpochs) {
  const auto plan = aft::run::plan_race(8, 16, 1, 2);
  EXPECT_EQ(plan.rung_epochs, (std::vector<int64_t>{2, 4, 8}));
  EXPECT_EQ(plan.entrants, (std::vector<int64_t>{8, 4, 2}));
  // (8 x 2 + 4 x 2 + 2 x 4) epochs of racing, then the winner's 8 more, over 16 epochs a run.
  EXPECT_DOUBLE_EQ(plan.cost, (16 + 8 + 8 + 8) / 16.0);
  // Folds multiply the racing; the final training is a retraining on every image: k / (k - 1).
  const auto folded = aft::run::plan_race(4, 8, 3, 2, 0.5);
  EXPECT_EQ(folded.rung_epochs, (std::vector<int64_t>{2, 4}));
  EXPECT_DOUBLE_EQ(folded.cost, 0.5 * ((4 * 2 + 2 * 2) * 3 / 8.0 + 1.5));
}

TEST(AutoRace, PlanCountsTheSearchesOnce) {
  const auto folded = aft::run::plan_race(4, 8, 3, 2, 0.5);
  EXPECT_DOUBLE_EQ(aft::run::plan_race(4, 8, 3, 2, 0.5, 0.75).cost, folded.cost + 0.75);
  // A search that does not fit shortens the first rung like any other cost.
  // Without it a first rung of 3 fits 3.25 (below); with a search of 1 a rung of 2 costs 3.5.
  EXPECT_EQ(aft::run::fit_plan(8, 16, 1, 3.25, 0, 1.0, 1.0).rung_epochs.front(), 1);
}

TEST(AutoRace, FitPlanTakesTheLongestFirstRungWithinBudget) {
  EXPECT_EQ(aft::run::fit_plan(8, 16, 1, 2.5, 0).rung_epochs.front(), 2);  // 3 would cost 3.25
  EXPECT_EQ(aft::run::fit_plan(8, 16, 1, 3.25, 0).rung_epochs.front(), 3);
  EXPECT_EQ(aft::run::fit_plan(8, 16, 1, 0.1, 0).rung_epochs.front(), 1);  // nothing fits: the shortest
  EXPECT_EQ(aft::run::fit_plan(8, 16, 1, 100, 5).rung_epochs.front(), 5);  // --first-rung wins
}

TEST(AutoRace, KFoldsValidateEveryImageOnceAndStratify) {
  const aft::testing::ColourDataset data(3, 10, 4, 1);
  std::vector<size_t> pool;
  for (size_t i = 0; i < data.size(); ++i) pool.push_back(i);
  const auto folds = aft::run::k_folds(data, pool, 3, 7);
  ASSERT_EQ(folds.size(), 3u);
  std::multiset<size_t> validated;
  for (const auto& [train, val] : folds) {
    EXPECT_EQ(train.size() + val.size(), pool.size());
    for (size_t i : val) {
      validated.insert(i);
      EXPECT_FALSE(std::binary_search(train.begin(), train.end(), i)) << "image " << i << " is in both sides";
    }
    std::vector<int> per_class(3, 0);
    for (size_t i : val) per_class[data.label(i)]++;
    for (int n : per_class) EXPECT_TRUE(n == 3 || n == 4) << "fold not stratified: " << n;
  }
  EXPECT_EQ(validated.size(), pool.size());
  EXPECT_EQ(std::set<size_t>(validated.begin(), validated.end()).size(), pool.size());
  EXPECT_EQ(aft::run::k_folds(data, pool, 3, 7), folds);  // seeded
  EXPECT_NE(aft::run::k_folds(data, pool, 3, 8), folds);
}

class AutoRaceRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = aft::data::testing::temp_dir("auto_race");
    // 3 classes x 12 training images; a quarter validates: 27 train, 9 val, batches of 9.
    aft::data::testing::make_folder(dir_ + "/data", {"a", "b", "c"}, 12, 4);
    // A source that knows these very classes: pretrained on the task itself.
    aft::run::JobSpec spec = job("pretrain", "source");
    spec.model.model = "resnet18";
    spec.model.stem = "small";
    spec.model.width = 0.125;
    spec.train.epochs = 6;
    aft::run::run_job(spec);
  }
  static aft::run::JobSpec job(const std::string& command, const std::string& out) {
    aft::run::JobSpec spec;
    spec.command = command;
    spec.data = dir_ + "/data";
    spec.out = dir_ + "/" + out;
    spec.train = aft::testing::tiny_options(4);
    spec.train.val_fraction = 0.25;
    spec.train.batch_size = 9;
    spec.train.transform = "none";
    spec.train.image_size = 16;
    spec.quiet = true;
    return spec;
  }
  static nlohmann::json race(const std::string& out, const std::string& weights, std::vector<std::string> candidates,
                             int64_t first_rung = 1, double budget = 10, int64_t folds = 1) {
    auto spec = job("finetune", out);
    spec.model.weights = weights;
    spec.method = "auto";
    auto options = std::make_unique<aft::methods::AutoOptions>();
    options->candidates = std::move(candidates);
    options->folds = folds;
    options->first_rung = first_rung;
    options->budget = budget;
    spec.method_options = std::move(options);
    return aft::run::run_job(spec);
  }
  static std::string dir_;
};
std::string AutoRaceRuns::dir_;

TEST_F(AutoRaceRuns, BudgetSpentMatchesADirectCount) {
  const double before = aft::train::training_work();
  const auto s = race("budget", dir_ + "/source", {"full", "full@0.5"});
  const double work = aft::train::training_work() - before;
  // Direct count: two candidates x 1 epoch, then the winner's 3 more epochs, each epoch 27 images
  // at a full step's cost; one full fine-tune is 27 images x 4 epochs.
  EXPECT_DOUBLE_EQ(work, (2 * 1 + 3) * 27.0);
  EXPECT_NEAR(s.at("budget_spent").get<double>(), 5.0 / 4.0, 1e-9);
  EXPECT_NEAR(s.at("method_report").at("spent").get<double>(), 5.0 / 4.0, 1e-9);
  const auto race_json = aft::fs::read_json(dir_ + "/budget/race.json");
  EXPECT_NEAR(race_json.at("spent").get<double>(), 1.25, 1e-9);
  // A linear probe's step runs the backward through the head alone: (1 + 2 / layers) / 3.
  const double linear_before = aft::train::training_work();
  race("linear-only", dir_ + "/source", {"linear"});
  const double linear_work = aft::train::training_work() - linear_before;
  EXPECT_LT(linear_work, 4 * 27.0 * 0.5);
  EXPECT_GT(linear_work, 4 * 27.0 / 3.0);
}

// Issue 26: with --shots the race's folds and its retraining see the shots alone, the images the
// budget counts, not the validation split carved (before the shots) from every image.
TEST_F(AutoRaceRuns, ShotsAndFoldsSeeTheSameImages) {
  auto spec = job("finetune", "shots");
  spec.model.weights = dir_ + "/source";
  spec.method = "auto";
  spec.train.shots = 4;  // 4 of each class's 9 training images; validation holds 3 per class
  auto options = std::make_unique<aft::methods::AutoOptions>();
  options->candidates = {"full", "linear@3"};
  options->first_rung = 1;
  options->budget = 20;
  spec.method_options = std::move(options);
  const auto s = aft::run::run_job(spec);
  const auto& report = s.at("method_report");
  EXPECT_EQ(report.at("folds").get<int64_t>(), 3);
  EXPECT_EQ(report.at("pool_images").get<int64_t>(), 3 * 4);
  const auto race_json = aft::fs::read_json(dir_ + "/shots/race.json");
  int64_t validated = 0;
  for (int f = 0; f < 3; ++f) validated += race_json.at("steps").at("full/fold" + std::to_string(f)).at("val_images").get<int64_t>();
  EXPECT_EQ(validated, 3 * 4);  // every shot validated once, nothing else
}

TEST_F(AutoRaceRuns, ASearchRunsOnceAcrossFoldsAndSitsOutWhenOverItsShare) {
  // Budget 3 over 4 candidates: a share of 0.75 each. contribution-fast's PSO (22 epochs of a
  // 4-epoch run: 5.5 full fine-tunes) sits out; partial-angle's (2 epochs: 0.5) then fits a share of 1.
  const auto s = race("searches", dir_ + "/source", {"full", "linear@3", "partial-angle", "contribution-fast"}, 1, 3, 3);
  const auto& report = s.at("method_report");
  ASSERT_EQ(report.at("left_out").size(), 1u) << report.dump();
  EXPECT_EQ(report.at("left_out").at(0).at("label"), "contribution-fast");
  EXPECT_EQ(report.at("candidates").size(), 3u);
  const std::string race_dir = dir_ + "/searches/race/partial-angle/";
  ASSERT_TRUE(aft::fs::exists(race_dir + "fold0/prepared.json"));
  // Folds 1 and 2 take fold 0's chosen units; only fold 0 paid for the search.
  for (const char* fold : {"fold1", "fold2"}) {
    EXPECT_EQ(aft::fs::read_json(race_dir + fold + std::string("/prepared.json")),
              aft::fs::read_json(race_dir + "fold0/prepared.json"))
        << fold;
  }
  const auto race_json = aft::fs::read_json(dir_ + "/searches/race.json");
  const auto& steps = race_json.at("steps");
  const double search = race_json.at("searches").at("partial-angle").at("work").get<double>();
  EXPECT_GT(search, 0.0);
  EXPECT_EQ(race_json.at("searches").size(), 1u);  // full and linear@3 search nothing
  // The rate prices training alone: partial's fold 0 rate is not inflated by its search.
  EXPECT_LT(steps.at("partial-angle/fold0").at("rate").get<double>(), 1.05);
  // The spend is every step's training, the search once, and the final training.
  double recounted = search + race_json.at("final").at("work").get<double>();
  for (const auto& step : steps) recounted += step.at("work").get<double>();
  EXPECT_NEAR(race_json.at("spent").get<double>(), recounted, 1e-9);
  // The report says who sat out and why.
  aft::report::RunFiles files = aft::report::read_run(dir_ + "/searches");
  const auto html = aft::report::render_report({files}, "/* no chart.js */");
  EXPECT_NE(html.find("Left out: the budget could not afford their searches: contribution-fast"), std::string::npos);
}

TEST_F(AutoRaceRuns, ProbesShareTheFrozenFeatures) {
  // lp-ft probes on each of 3 folds (24 images each) and again in the final retraining (all
  // 36): 108 rows of features, each of the 36 images computed once.
  const auto s = race("shared-features", dir_ + "/source", {"lp-ft", "full"}, 1, 10, 3);
  EXPECT_EQ(s.at("method_report").at("probe_features_computed").get<int64_t>(), 36);
  for (int f = 0; f < 3; ++f) {
    const auto prepared = aft::fs::read_json(dir_ + "/shared-features/race/lp-ft/fold" + std::to_string(f) + "/prepared.json");
    EXPECT_EQ(prepared.at("state").at("report").at("probe_train_images").get<int64_t>(), 24) << f;
  }
}

TEST_F(AutoRaceRuns, PicksTheLinearProbeOnTheSourcesOwnClasses) {
  // Every candidate separates classes the source already separates; the tie goes to the probe.
  const auto s = race("own-classes", dir_ + "/source", {"full", "linear@3"});
  EXPECT_EQ(s.at("chosen").get<std::string>(), "linear@3") << s.at("method_report").at("table").get<std::string>();
  EXPECT_EQ(s.at("chosen_method").get<std::string>(), "linear");
  EXPECT_LT(s.at("trainable_params").get<int64_t>(), s.at("total_params").get<int64_t>() / 10);
  // The run is a normal run: its config names the winner's method as its own (and what chose
  // it), and it reopens for evaluation.
  const auto cfg = aft::fs::read_json(dir_ + "/own-classes/config.json");
  EXPECT_EQ(cfg.at("method").get<std::string>(), "linear");
  EXPECT_EQ(cfg.at("chosen_by").at("method").get<std::string>(), "auto");
  EXPECT_EQ(cfg.at("chosen_by").at("label").get<std::string>(), "linear@3");
  EXPECT_TRUE(cfg.at("chosen_by").at("method_options").contains("budget"));
  EXPECT_NO_THROW(aft::run::load_run(dir_ + "/own-classes", "cpu"));
  // The HTML report draws the race: a chart, each candidate's fitness per rung, the winner.
  const auto html = aft::report::render_report({aft::report::read_run(dir_ + "/own-classes")}, "/* Chart.js */");
  EXPECT_NE(html.find("The race (--method auto)"), std::string::npos);
  EXPECT_NE(html.find("linear@3 (winner)"), std::string::npos);
  EXPECT_NE(html.find("-race-chart"), std::string::npos);
}

// Constant-colour images whose class is the hue (red, green or blue raised above a grey base)
// and whose sum over the normalised channels does not depend on the class: a network whose first
// convolution adds the channels with equal weights cannot tell the classes apart.
void write_hue_folder(const std::string& root, int train_per_class, int test_per_class) {
  const double sigma[3] = {0.229, 0.224, 0.225};  // ImageNet std, as the transform normalises
  std::mt19937 rng(3);
  for (int k = 0; k < 3; ++k) {
    for (const auto& [split, n] : {std::make_pair(std::string("train"), train_per_class),
                                   std::make_pair(std::string("test"), test_per_class)}) {
      const std::string dir = root + "/" + split + "/hue" + std::to_string(k);
      std::filesystem::create_directories(dir);
      for (int i = 0; i < n; ++i) {
        const int base = 40 + static_cast<int>(rng() % 60);  // the same on every channel
        uint8_t rgb[3];
        for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(base);
        rgb[k] = static_cast<uint8_t>(base + std::lround(100 * sigma[k] / sigma[0]));
        std::vector<uint8_t> pixels(16 * 16 * 3);
        for (size_t p = 0; p < pixels.size(); ++p) pixels[p] = rgb[p % 3];
        aft::data::write_png(dir + "/" + std::to_string(i) + ".png", pixels.data(), 16, 16, 3);
      }
    }
  }
}

TEST_F(AutoRaceRuns, DoesNotPickTheLinearProbeWhenFrozenFeaturesCarryNoInformation) {
  // The source made colour-blind (its first convolution's weights averaged over the input
  // channels), on a task decided by colour alone: frozen features hold nothing about the class,
  // so a probe stays near chance, while fine-tuning can learn to tell the channels apart.
  auto model = aft::models::build_model(aft::models::ModelConfig::from_json(
      aft::fs::read_json(dir_ + "/source/config.json").at("model")));
  aft::models::load_weights(*model, dir_ + "/source/model.safetensors", {});
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key() == "conv1.weight") item.value().copy_(item.value().mean(1, true).expand_as(item.value()));
    }
  }
  aft::models::save_weights(*model, dir_ + "/blind.safetensors", aft::models::model_metadata(*model));
  write_hue_folder(dir_ + "/hues", 24, 8);
  auto spec = job("finetune", "blind");
  spec.data = dir_ + "/hues";
  spec.model.weights = dir_ + "/blind.safetensors";
  spec.method = "auto";
  auto options = std::make_unique<aft::methods::AutoOptions>();
  options->candidates = {"full", "linear@3"};
  options->folds = 1;
  options->first_rung = 4;
  spec.method_options = std::move(options);
  spec.train.epochs = 8;
  const auto s = aft::run::run_job(spec);
  const auto& table = s.at("method_report").at("table").get<std::string>();
  EXPECT_EQ(s.at("chosen").get<std::string>(), "full") << table;
  for (const auto& c : s.at("method_report").at("candidates")) {
    if (c.at("label") == "linear@3") EXPECT_LT(c.at("fitness").get<double>(), 0.6) << table;
  }
}

}  // namespace
