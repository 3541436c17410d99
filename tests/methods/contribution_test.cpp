#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "aft/core/error.h"
#include "aft/methods/contribution.h"
#include "aft/methods/contribution_search.h"
#include "aft/search/proxy.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::ContributionMethod;
using aft::methods::ContributionOptions;
using aft::methods::ContributionOrder;

struct Fixture {
  aft::train::TrainData task = aft::testing::tiny_task();
  aft::train::TrainOptions options = aft::testing::tiny_options(2);
  aft::methods::PrepareContext context() {
    return {[] { return aft::testing::tiny_resnet(); }, &task, &options, "", true};
  }
};

ContributionOptions fixed_ratio(double r, const std::string& mode = "strict") {
  ContributionOptions o;
  o.ratio = r;
  o.search_preset = "none";
  o.mask_mode = mode;
  return o;
}

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

TEST(ContributionMasks, RatioSelectsFloorOfNumelFromOneCachedSortPerTensor) {
  auto model = aft::testing::tiny_resnet();
  const auto scores = aft::methods::contribution_scores(*model, "value", nullptr, nullptr, 1);
  ContributionOrder order(scores, false);
  EXPECT_EQ(order.sorts(), static_cast<int64_t>(scores.size()));
  for (double r : {0.0, 0.13, 0.5, 0.777, 0.999, 1.0}) {
    for (const auto& [name, s] : scores) {
      const auto mask = order.mask(name, r);
      EXPECT_EQ(mask.scalar_type(), torch::kBool);
      EXPECT_EQ(mask.sizes(), s.sizes());
      EXPECT_EQ(mask.sum().item<int64_t>(), static_cast<int64_t>(std::floor(r * s.numel()))) << name << " r=" << r;
    }
  }
  EXPECT_EQ(order.sorts(), static_cast<int64_t>(scores.size())) << "masks are prefixes of the cached order";
  // A larger ratio's mask contains a smaller one's.
  const auto& name = scores.begin()->first;
  EXPECT_TRUE((order.mask(name, 0.3) & ~order.mask(name, 0.6)).sum().item<int64_t>() == 0);
}

TEST(ContributionMasks, ValueCriterionIsSignedAscending) {
  std::map<std::string, torch::Tensor> scores = {{"w", torch::tensor({3.0f, -5.0f, 1.0f, -1.0f, 2.0f})}};
  EXPECT_TRUE(torch::equal(ContributionOrder(scores, false).mask("w", 0.4), torch::tensor({0, 1, 0, 1, 0}).to(torch::kBool)));
  EXPECT_TRUE(torch::equal(ContributionOrder(scores, true).mask("w", 0.4), torch::tensor({1, 0, 0, 0, 1}).to(torch::kBool)));
  // On a real model: every tuned entry is <= every frozen one (signed, not absolute).
  auto model = aft::testing::tiny_resnet();
  const auto values = aft::methods::contribution_scores(*model, "value", nullptr, nullptr, 1);
  ContributionOrder order(values, false);
  for (const auto& p : model->named_parameters()) {
    if (!values.count(p.key()) || p.value().numel() < 4) continue;
    const auto w = p.value().detach();
    const auto mask = order.mask(p.key(), 0.37);
    EXPECT_LE(w.masked_select(mask).max().item<float>(), w.masked_select(~mask).min().item<float>()) << p.key();
  }
}

TEST(Contribution, StrictModeKeepsMaskedEntriesBitIdentical) {
  Fixture f;
  ContributionMethod method(fixed_ratio(0.3));
  auto ctx = f.context();
  method.prepare(ctx);
  // Mixed ratios: frozen units, partial units and fully tuned units.
  std::vector<double> ratios;
  for (size_t u = 0; u < method.unit_ratios().size(); ++u) ratios.push_back(u % 3 == 0 ? 0.0 : u % 3 == 1 ? 0.3 : 1.0);
  method.use_ratios(method.basis(), ratios);
  auto model = aft::testing::tiny_resnet();
  const auto before = snapshot(*model);
  method.attach(model);
  const auto masks = method.masks();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(method, f.options, f.task, hooks).fit();
  const auto& layout = method.basis()->layout;
  int64_t partial = 0;
  for (const auto& p : model->named_parameters()) {
    const auto w = p.value().detach();
    const auto& w0 = before.at(p.key());
    const auto moved = w.ne(w0);
    if (aft::models::is_head_param(*model, p.key())) {
      EXPECT_GT(moved.sum().item<int64_t>(), 0) << "the head always trains";
      continue;
    }
    const double r = ratios[layout.unit_of_param.at(p.key())];
    const int64_t allowed = static_cast<int64_t>(std::floor(r * w.numel()));
    if (allowed == 0) {
      EXPECT_TRUE(torch::equal(w, w0)) << p.key();
    } else if (allowed < w.numel()) {
      ++partial;
      const auto& mask = masks.at(p.key());
      EXPECT_EQ(mask.sum().item<int64_t>(), allowed) << p.key();
      EXPECT_TRUE(torch::equal(w.masked_select(~mask), w0.masked_select(~mask))) << p.key();
      EXPECT_EQ((moved & ~mask).sum().item<int64_t>(), 0) << p.key();
      EXPECT_LE(moved.sum().item<int64_t>(), allowed);
    }
  }
  EXPECT_GT(partial, 0);
  EXPECT_NEAR(method.trainable_fraction(), method.report().at("trainable_fraction_backbone").get<double>(), 1e-12);
}

TEST(Contribution, FaithfulModeZeroesMaskedGradsAndMasksDriftOnlyByDecayAndMomentum) {
  Fixture f;
  ContributionMethod method(fixed_ratio(0.4, "faithful"));
  auto ctx = f.context();
  method.prepare(ctx);
  auto model = aft::testing::tiny_resnet();
  method.attach(model);
  const auto masks = method.masks();
  const auto w0 = snapshot(*model);
  std::vector<torch::Tensor> params;
  for (auto& g : method.param_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  EXPECT_EQ(params.size(), model->parameters().size()) << "faithful: every tensor is in the optimizer";
  const double lr = 0.1, wd = 5e-4, momentum = 0.9;
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(wd));
  model->train(true);
  torch::manual_seed(4);
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(torch::randn({8, 3, 16, 16})), torch::randint(0, 3, {8}))
        .backward();
    method.after_backward();
    for (const auto& [name, mask] : masks) {
      const auto g = model->named_parameters()[name].grad();
      EXPECT_EQ(g.masked_select(~mask).abs().sum().item<double>(), 0.0) << name;
    }
    sgd.step();
    method.after_step();
  }
  // Masked entries: buf1 = wd*w0, w1 = w0 - lr*buf1; buf2 = m*buf1 + wd*w1, w2 = w1 - lr*buf2.
  for (const auto& [name, mask] : masks) {
    const auto a = w0.at(name).masked_select(~mask);
    const auto buf1 = wd * a;
    const auto w1 = a - lr * buf1;
    const auto w2 = w1 - lr * (momentum * buf1 + wd * w1);
    const auto now = model->named_parameters()[name].detach().masked_select(~mask);
    EXPECT_TRUE(torch::allclose(now, w2, 1e-6, 1e-9)) << name;
    if (a.abs().sum().item<double>() > 0) {
      EXPECT_FALSE(torch::equal(now, a)) << name << ": weight decay moves frozen entries in faithful mode";
    }
  }
}

TEST(Contribution, FreezeBnStatsKeepsRunningStatistics) {
  Fixture f;
  auto o = fixed_ratio(0.5);
  o.freeze_bn_stats = true;
  ContributionMethod method(o);
  auto ctx = f.context();
  method.prepare(ctx);
  auto model = aft::testing::tiny_resnet();
  std::map<std::string, torch::Tensor> before;
  for (const auto& b : model->named_buffers()) before[b.key()] = b.value().clone();
  method.attach(model);
  f.options.epochs = 1;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(method, f.options, f.task, hooks).fit();
  for (const auto& b : model->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), before.at(b.key()))) << b.key();
}

TEST(Contribution, GradientCriteriaScoreEveryBackboneTensor) {
  Fixture f;
  for (const std::string criterion : {"taylor", "fisher"}) {
    auto model = aft::testing::tiny_resnet();
    const auto scores = aft::methods::contribution_scores(*model, criterion, &f.task, &f.options, 2);
    for (const auto& p : model->named_parameters()) {
      if (aft::models::is_head_param(*model, p.key())) {
        EXPECT_EQ(scores.count(p.key()), 0u);
        continue;
      }
      ASSERT_EQ(scores.count(p.key()), 1u) << p.key();
      EXPECT_EQ(scores.at(p.key()).sizes(), p.value().sizes());
      EXPECT_GE(scores.at(p.key()).min().item<double>(), 0.0);
    }
  }
}

TEST(Contribution, RatioFileByUnitBlockAndStage) {
  auto model = aft::testing::tiny_resnet();
  const auto layout = aft::methods::RatioLayout::build(*model, "unit");
  const auto path = (std::filesystem::temp_directory_path() / "aft_contribution_ratios.json").string();
  const auto& first = layout.units.front();
  std::ofstream(path) << nlohmann::json{{"layer1", 0.1}, {"layer2", 0.2}, {"layer3", 0.3}, {"layer4", 0.4},
                                        {first.name, 0.9}}
                             .dump();
  const auto ratios = aft::methods::read_ratio_file(path, layout);
  EXPECT_EQ(ratios.front(), 0.9) << "a unit's own name wins over its stage";
  for (size_t u = 1; u < layout.units.size(); ++u) {
    EXPECT_DOUBLE_EQ(ratios[u], 0.1 * (layout.units[u].stage.back() - '0')) << layout.units[u].name;
  }
  std::ofstream(path) << nlohmann::json{{"layer1", 0.1}}.dump();
  EXPECT_THROW(aft::methods::read_ratio_file(path, layout), aft::Error);
  std::filesystem::remove(path);
}

TEST(Contribution, OptionsValidateChoicesAndPresets) {
  ContributionOptions o;
  o.search_preset = "none";
  EXPECT_THROW(o.validate(), aft::Error);
  o.ratio = 0.5;
  EXPECT_NO_THROW(o.validate());
  o.criterion = "bogus";
  EXPECT_THROW(o.validate(), aft::Error);
  ContributionOptions fast;
  fast.search_preset = "fast";
  fast.particles = 3;
  const auto b = aft::methods::resolve_budget(fast);
  EXPECT_EQ(b.particles, 3);
  EXPECT_EQ(b.iterations, 4);
  EXPECT_EQ(b.ratio_groups, "block");
  const auto paper = aft::methods::resolve_budget(ContributionOptions());
  EXPECT_EQ(paper.particles * (paper.iterations + 1), 160);
  EXPECT_EQ(paper.proxy_epochs, 5);
  EXPECT_EQ(paper.ratio_groups, "unit");
  EXPECT_LT(paper.early_stop_margin, 0);
}

// A test split that fails on any read: the search must never touch it.
class PoisonedDataset : public aft::data::Dataset {
 public:
  explicit PoisonedDataset(size_t n) : n_(n) { classes_ = {"class0", "class1", "class2"}; }
  size_t size() const override { return n_; }
  int64_t label(size_t) const override { aft::fail("search read a test label"); }
  aft::data::Image image(size_t) const override { aft::fail("search read a test image"); }
  std::string describe(size_t i) const override { return "poison#" + std::to_string(i); }

 private:
  size_t n_;
};

TEST(Contribution, SearchRecordsHistoryAndNeverReadsTheTestSplit) {
  ContributionOptions o;
  o.search_preset = "fast";
  o.particles = 2;
  o.iterations = 1;
  o.proxy_epochs = 3;
  o.proxy_fraction = 1.0;
  o.ratio_groups = "stage";
  auto search = [&](bool poisoned) {
    Fixture f;
    f.options.lr = 0.1;
    if (poisoned) f.task.splits.test = std::make_shared<PoisonedDataset>(f.task.splits.test->size());
    ContributionMethod method(o);
    auto ctx = f.context();
    method.prepare(ctx);
    // One argsort per backbone tensor for the whole search, however many particles ran.
    EXPECT_EQ(method.basis()->order->sorts(), static_cast<int64_t>(method.basis()->layout.unit_of_param.size()));
    return method.report();
  };
  const auto clean = search(false);
  const auto poisoned = search(true);
  const auto& s = clean.at("search");
  ASSERT_TRUE(s.is_object());
  const auto& evals = s.at("evaluations");
  ASSERT_EQ(evals.size(), 4u);
  EXPECT_EQ(s.at("gbest_per_iteration").size(), 2u);
  EXPECT_EQ(s.at("dimensions").size(), 4u) << "stages of resnet18";
  double best = 0;
  for (const auto& e : evals) {
    EXPECT_EQ(e.at("ratios").size(), 4u);
    const double fit = e.at("fitness").get<double>();
    EXPECT_GE(fit, 0.0);
    EXPECT_LE(fit, 1.0);
    EXPECT_GE(e.at("proxy_epochs").get<int64_t>(), 1);
    EXPECT_LE(e.at("proxy_epochs").get<int64_t>(), 3);
    EXPECT_GE(e.at("seconds").get<double>(), 0.0);
    best = std::max(best, fit);
  }
  EXPECT_EQ(s.at("gbest_fitness").get<double>(), best);
  EXPECT_GT(best, 0.5) << "the proxy runs learn (better than chance on 3 classes): " << evals.dump();
  EXPECT_EQ(clean.at("ratios").size(), clean.at("layers").size());
  EXPECT_FALSE(clean.at("table").get<std::string>().empty());
  // Same seed: the same search, and the poisoned test split changed nothing.
  auto without_seconds = [](nlohmann::json e) {
    for (auto& row : e) row.erase("seconds");
    return e;
  };
  EXPECT_EQ(without_seconds(poisoned.at("search").at("evaluations")), without_seconds(evals));
  EXPECT_EQ(poisoned.at("ratios"), clean.at("ratios"));
}

TEST(Contribution, ProxyDataKeepsAStratifiedFractionAndDropsTest) {
  Fixture f;
  const auto proxy = aft::search::proxy_data(f.task, 0.5, 0);
  EXPECT_EQ(proxy.splits.test, nullptr);
  EXPECT_TRUE(proxy.splits.test_indices.empty());
  EXPECT_EQ(proxy.splits.val_indices, f.task.splits.val_indices);
  std::map<int64_t, int> per_class;
  for (auto i : proxy.splits.train_indices) per_class[f.task.splits.train->label(i)]++;
  for (const auto& [c, n] : per_class) EXPECT_NEAR(n, 9, 1) << c;  // 18 training images per class
}

}  // namespace
