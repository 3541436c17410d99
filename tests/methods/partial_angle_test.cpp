// Fine-tuned angle selection: the angle against a direct computation, top-K within homogeneous
// groups, and the whole --select angle flow (restart from pretrained, unchosen units untouched).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "aft/methods/partial_angle.h"
#include "aft/models/weights.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::UnitAngle;

TEST(PartialAngle, MatchesDirectComputation) {
  torch::manual_seed(2);
  const std::vector<torch::Tensor> a = {torch::randn({5, 3}), torch::randn({7})};
  const std::vector<torch::Tensor> b = {a[0] + 0.3 * torch::randn({5, 3}), a[1] + 0.3 * torch::randn({7})};
  const auto va = torch::cat({a[0].flatten(), a[1].flatten()}).to(torch::kFloat64);
  const auto vb = torch::cat({b[0].flatten(), b[1].flatten()}).to(torch::kFloat64);
  const double direct = std::acos((va.dot(vb) / (va.norm() * vb.norm())).item<double>());
  EXPECT_NEAR(aft::methods::weights_angle(a, b), direct, 1e-12);
  EXPECT_GT(direct, 0.05);
  EXPECT_NEAR(aft::methods::weights_angle(a, a), 0.0, 1e-6);
  // Scaling does not change an angle (up to the float32 rounding of the scaled copy).
  EXPECT_NEAR(aft::methods::weights_angle(a, {b[0] * 3, b[1] * 3}), direct, 1e-6);
}

TEST(PartialAngle, UnitAnglesCoverEveryUnitAndOnlyTheChangedOneMoves) {
  auto pre = aft::testing::tiny_resnet();
  auto tuned = aft::testing::tiny_resnet();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : tuned->named_parameters()) {
      if (p.key().rfind("layer3.1.", 0) == 0) p.value().add_(0.1 * torch::randn_like(p.value()));
    }
  }
  const auto angles = aft::methods::unit_angles(*pre, *tuned);
  const auto units = pre->units(aft::models::UnitLevel::block);
  ASSERT_EQ(angles.size(), units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    EXPECT_EQ(angles[i].name, units[i].name);
    EXPECT_EQ(angles[i].group, units[i].group);
    if (units[i].name != "layer3.1") {
      EXPECT_NEAR(angles[i].angle, 0.0, 1e-6) << units[i].name;
      continue;
    }
    std::vector<torch::Tensor> a, b;
    for (const auto& name : units[i].params) {
      a.push_back(pre->named_parameters()[name]);
      b.push_back(tuned->named_parameters()[name]);
    }
    EXPECT_NEAR(angles[i].angle, aft::methods::weights_angle(a, b), 1e-12);
    EXPECT_GT(angles[i].angle, 0.01);
  }
}

std::vector<UnitAngle> synthetic() {
  return {{"a0", "A", 0.3}, {"a1", "A", 0.1}, {"a2", "A", 0.4}, {"a3", "A", 0.2},
          {"b0", "B", 0.05}, {"b1", "B", 0.9}, {"b2", "B", 0.5}};
}

TEST(PartialAngle, TopKIsPerHomogeneousGroup) {
  auto angles = synthetic();
  aft::methods::pick_top_k(angles, 2, true);
  EXPECT_EQ(aft::methods::chosen_units(angles), (std::vector<std::string>{"a0", "a2", "b1", "b2"}));
  EXPECT_EQ(angles[2].rank, 1);
  EXPECT_EQ(angles[1].rank, 4);
  EXPECT_EQ(angles[5].rank, 1);
  aft::methods::pick_top_k(angles, 1, false);
  EXPECT_EQ(aft::methods::chosen_units(angles), (std::vector<std::string>{"a1", "b0"}));
  aft::methods::pick_top_k(angles, 9, true);  // clamped to each group's size
  EXPECT_EQ(aft::methods::chosen_units(angles).size(), 7u);
  EXPECT_EQ(aft::methods::auto_k_candidates(angles), (std::vector<int64_t>{1, 2}));
}

aft::methods::PrepareContext context(const aft::train::TrainData& task, const aft::train::TrainOptions& options) {
  aft::methods::PrepareContext c;
  c.fresh_model = [] { return aft::testing::tiny_resnet(3, 7); };  // the "pretrained" model
  c.data = &task;
  c.train_options = &options;
  c.quiet = true;
  return c;
}

TEST(PartialAngle, SelectionRestartsFromPretrainedAndTrainsOnlyChosenUnits) {
  const auto task = aft::testing::tiny_task();
  const auto options = aft::testing::tiny_options(1);
  auto ctx = context(task, options);
  aft::methods::PartialOptions o;
  o.select = "angle";
  o.k = "1";
  o.pick = "largest";
  o.freeze_bn_stats = true;  // so that everything outside the chosen blocks stays bit-identical
  aft::methods::PartialMethod method(o);
  method.prepare(ctx);
  auto model = ctx.fresh_model();
  auto pretrained = aft::models::state_dict(*model);
  for (auto& [k, v] : pretrained) v = v.clone();
  method.attach(model);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(method, options, task, hooks).fit();

  const auto report = method.report();
  const auto& units = report.at("angle_selection").at("units");
  ASSERT_EQ(units.size(), model->units(aft::models::UnitLevel::block).size());
  std::map<std::string, int> chosen_per_group;
  std::set<std::string> chosen;
  std::map<std::string, double> best_in_group;
  for (const auto& u : units) {
    EXPECT_GE(u.at("angle").get<double>(), 0.0);
    const auto group = u.at("group").get<std::string>();
    best_in_group[group] = std::max(best_in_group[group], u.at("angle").get<double>());
    if (u.at("chosen").get<bool>()) chosen_per_group[group]++, chosen.insert(u.at("unit").get<std::string>());
  }
  EXPECT_EQ(chosen_per_group.size(), 4u);  // one per ResNet stage
  for (const auto& u : units) {
    if (u.at("chosen").get<bool>()) EXPECT_EQ(u.at("angle").get<double>(), best_in_group[u.at("group").get<std::string>()]);
  }
  // Restarted from the pretrained weights: outside the chosen blocks and the head, bit-identical.
  const auto after = aft::models::state_dict(*model);
  for (const auto& [key, tensor] : after) {
    const auto block = key.substr(0, key.find('.', key.find('.') + 1));
    const bool trains = chosen.count(block) || aft::models::is_head_param(*model, key);
    EXPECT_EQ(torch::equal(tensor, pretrained.at(key)), !trains) << key;
  }
}

TEST(PartialAngle, AutoPicksByProxyValidationAccuracy) {
  const auto task = aft::testing::tiny_task();
  const auto options = aft::testing::tiny_options(1);
  auto ctx = context(task, options);
  aft::methods::PartialOptions o;
  o.select = "angle";
  o.k = "auto";
  o.pick = "auto";
  const auto selection = aft::methods::select_by_angle(ctx, o);
  const auto& proxies = selection.report.at("proxy_runs");
  ASSERT_EQ(proxies.size(), 2u);  // resnet18 stages hold 2 blocks: K=1, largest and smallest
  double best = -1;
  for (const auto& p : proxies) best = std::max(best, p.at("val_accuracy").get<double>());
  bool found = false;
  for (const auto& p : proxies) {
    if (p.at("pick") == selection.pick && p.at("k") == selection.k) {
      EXPECT_EQ(p.at("val_accuracy").get<double>(), best);
      EXPECT_EQ(p.at("units").get<std::vector<std::string>>(), aft::methods::chosen_units(selection.angles));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
