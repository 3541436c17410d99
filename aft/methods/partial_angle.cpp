#include "aft/methods/partial_angle.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/methods/baselines.h"
#include "aft/search/proxy.h"
#include "aft/train/trainer.h"

namespace aft::methods {

double weights_angle(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  check(a.size() == b.size(), "weights_angle: ", a.size(), " vs ", b.size(), " tensors");
  // float64: after a short fine-tune cos is within ~1e-6 of 1, where float32 arccos is noise.
  double dot = 0, aa = 0, bb = 0;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto x = a[i].detach().cpu().to(torch::kFloat64).flatten();
    const auto y = b[i].detach().cpu().to(torch::kFloat64).flatten();
    check(x.numel() == y.numel(), "weights_angle: tensor ", i, " has ", x.numel(), " vs ", y.numel(), " elements");
    dot += x.dot(y).item<double>();
    aa += x.dot(x).item<double>();
    bb += y.dot(y).item<double>();
  }
  if (aa == 0 || bb == 0) return aa == bb ? 0.0 : M_PI / 2;
  return std::acos(std::clamp(dot / (std::sqrt(aa) * std::sqrt(bb)), -1.0, 1.0));
}

std::vector<UnitAngle> unit_angles(const models::VisionModel& pretrained, const models::VisionModel& tuned) {
  const auto pre = pretrained.named_parameters(true);
  const auto ft = tuned.named_parameters(true);
  std::vector<UnitAngle> out;
  for (const auto& u : pretrained.units(models::UnitLevel::block)) {
    std::vector<torch::Tensor> a, b;
    for (const auto& name : u.params) {
      const auto* x = pre.find(name);
      const auto* y = ft.find(name);
      check(x && y, "unit_angles: parameter ", name, " is missing from one model");
      a.push_back(*x);
      b.push_back(*y);
    }
    out.push_back({u.name, u.group, weights_angle(a, b), 0, false});
  }
  return out;
}

void pick_top_k(std::vector<UnitAngle>& angles, int64_t k, bool largest) {
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < angles.size(); ++i) groups[angles[i].group].push_back(i);
  for (auto& [group, members] : groups) {
    std::stable_sort(members.begin(), members.end(),
                     [&](size_t x, size_t y) { return angles[x].angle > angles[y].angle; });
    for (size_t r = 0; r < members.size(); ++r) angles[members[r]].rank = static_cast<int64_t>(r) + 1;
    const size_t take = std::min(members.size(), static_cast<size_t>(std::max<int64_t>(k, 0)));
    if (!largest) {
      // Smallest first; among equal angles still the earlier unit, as for largest.
      std::stable_sort(members.begin(), members.end(),
                       [&](size_t x, size_t y) { return angles[x].angle < angles[y].angle; });
    }
    for (size_t r = 0; r < members.size(); ++r) angles[members[r]].chosen = r < take;
  }
}

std::vector<std::string> chosen_units(const std::vector<UnitAngle>& angles) {
  std::vector<std::string> out;
  for (const auto& a : angles) {
    if (a.chosen) out.push_back(a.name);
  }
  return out;
}

std::vector<int64_t> auto_k_candidates(const std::vector<UnitAngle>& angles) {
  std::map<std::string, int64_t> sizes;
  for (const auto& a : angles) ++sizes[a.group];
  int64_t n = 0;
  for (const auto& [group, size] : sizes) n = std::max(n, size);
  std::set<int64_t> ks = {1, std::max<int64_t>(1, (n + 3) / 4), std::max<int64_t>(1, (n + 1) / 2)};
  return {ks.begin(), ks.end()};
}

namespace {

nlohmann::json angles_json(const std::vector<UnitAngle>& angles) {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& a : angles) {
    units.push_back({{"unit", a.name}, {"group", a.group}, {"angle", a.angle}, {"rank", a.rank}, {"chosen", a.chosen}});
  }
  return units;
}

train::TrainerHooks quiet_hooks(const std::string& label) {
  train::TrainerHooks hooks;
  hooks.label = label;
  hooks.quiet = true;
  hooks.run_test = false;  // selection looks at validation only; the test split is for the end
  return hooks;
}

}  // namespace

AngleSelection select_by_angle(PrepareContext& context, const PartialOptions& options) {
  check(context.data && context.train_options && context.fresh_model, "partial --select angle: no task to prepare on");
  const bool auto_k = options.k == "auto", auto_pick = options.pick == "auto";
  check(!(auto_k || auto_pick) || !context.data->splits.val_indices.empty(),
        "partial: --k/--pick auto choose by validation accuracy; give --val-fraction > 0");
  AngleSelection selection;

  // 1. A short full fine-tune from the pretrained weights, through the one Trainer.
  auto pretrained = context.fresh_model();
  auto tuned = context.fresh_model();
  auto full = full_method().create(NoOptions());
  full->attach(tuned);
  train::TrainOptions angle_options = *context.train_options;
  angle_options.epochs = options.angle_epochs;
  angle_options.keep_best = false;  // the angle is measured on where the fine-tune ends
  angle_options.patience = 0;
  angle_options.ema = 0;
  log::info("partial: full fine-tune for " + std::to_string(options.angle_epochs) + " epoch(s) to measure angles");
  const auto angle_run = train::Trainer(*full, angle_options, *context.data, quiet_hooks("partial angles")).fit();
  tuned->to(torch::kCPU);

  // 2. Angles per unit; 3. ranking and picks within each homogeneous group.
  selection.angles = unit_angles(*pretrained, *tuned);
  pretrained.reset();
  tuned.reset();
  nlohmann::json proxies = nlohmann::json::array();
  int64_t best_k = options.k_value();
  std::string best_pick = options.pick;
  if (auto_k || auto_pick) {
    const auto ks = auto_k ? auto_k_candidates(selection.angles) : std::vector<int64_t>{best_k};
    const auto picks = auto_pick ? std::vector<std::string>{"largest", "smallest"} : std::vector<std::string>{options.pick};
    // The proxies every search uses (search/proxy.h): the run's optimizer, a constant rate, no test split.
    const auto recipe = search::proxy_options(*context.train_options, options.proxy_epochs);
    const auto data = search::proxy_data(*context.data, 1.0, static_cast<uint64_t>(context.train_options->seed));
    std::set<std::vector<std::string>> tried;
    double best_accuracy = -1;
    // Candidates in order of growing K, largest before smallest: ties keep the cheaper choice.
    for (int64_t k : ks) {
      for (const auto& pick : picks) {
        auto angles = selection.angles;
        pick_top_k(angles, k, pick == "largest");
        const auto units = chosen_units(angles);
        if (!tried.insert(units).second) continue;  // same units as an earlier candidate
        PartialMethod proxy(options);
        proxy.set_units(units);
        proxy.attach(context.fresh_model());
        const double accuracy = search::proxy_fitness(proxy, recipe, data);
        proxies.push_back({{"k", k}, {"pick", pick}, {"units", units}, {"val_accuracy", accuracy}});
        log::info("partial: proxy k=" + std::to_string(k) + " " + pick + ": val accuracy " + std::to_string(accuracy));
        if (accuracy > best_accuracy) {
          best_accuracy = accuracy;
          best_k = k;
          best_pick = pick;
        }
      }
    }
  }
  pick_top_k(selection.angles, best_k, best_pick == "largest");
  selection.k = best_k;
  selection.pick = best_pick;
  selection.report = {{"angle_epochs", options.angle_epochs},
                      {"angle_run_val_accuracy", angle_run.final_val_accuracy},
                      {"angle_run_seconds", angle_run.seconds},
                      {"k", best_k},
                      {"pick", best_pick},
                      {"k_auto", auto_k},
                      {"pick_auto", auto_pick},
                      {"units", angles_json(selection.angles)}};
  if (!proxies.empty()) selection.report["proxy_runs"] = proxies;
  return selection;
}

}  // namespace aft::methods
