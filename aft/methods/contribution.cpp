#include "aft/methods/contribution.h"

#include <torch/torch.h>

#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/methods/contribution_search.h"

namespace aft::methods {

void ContributionOptions::visit(OptionVisitor& v) {
  v.field("criterion", "contribution score: value (signed pretrained value, the reference)|magnitude|taylor|fisher",
          criterion);
  v.field("select", "which end of the score is tuned: lowest|highest|auto (value: lowest; others: highest)", select);
  v.field("ratio", "one tuned fraction for every layer, in [0,1] (no search); <0: not given", ratio);
  v.field("ratios", "JSON file of ratios by layer unit, block or stage name (or a summary.json); no search", ratios);
  v.field("ratio-groups", "search dimensions: unit (one per conv/linear + its norm)|block|stage; empty: the preset's",
          ratio_groups);
  v.field("mask-mode",
          "strict (masked entries stay bit-identical to pretrained)|faithful (grad*mask, weight decay still shrinks "
          "them, as the reference)",
          mask_mode);
  v.field("freeze-bn-stats", "keep batch norms in eval mode (running statistics stay pretrained)", freeze_bn_stats);
  v.field("search-preset",
          "ratio search: paper (10 particles x 15 iterations, 5 proxy epochs, unit groups)|fast (6 x 4, 2 proxy "
          "epochs on half the data, block groups, early stop 0.05)|none (needs --ratio or --ratios)",
          search_preset);
  SearchOptions::visit(v);
  v.field("taylor-batches", "training batches accumulated by the taylor and fisher criteria", taylor_batches);
}

void ContributionOptions::validate() const {
  check_choice("--criterion", criterion, {"value", "magnitude", "taylor", "fisher"});
  check_choice("--select", select, {"auto", "lowest", "highest"});
  check_choice("--mask-mode", mask_mode, {"strict", "faithful"});
  check_choice("--search-preset", search_preset, {"paper", "fast", "none"});
  if (!ratio_groups.empty()) check_choice("--ratio-groups", ratio_groups, {"unit", "block", "stage"});
  check(ratio <= 1.0, "--ratio ", ratio, ": expected a value in [0,1]");
  check(ratio < 0 || ratios.empty(), "--ratio and --ratios both given; pass one");
  check(!searches() || search_preset != "none", "--search-preset none needs --ratio or --ratios");
  check(taylor_batches >= 1, "--taylor-batches ", taylor_batches, ": expected >= 1");
  SearchOptions::validate();
}

std::string ContributionOptions::resolved_select() const {
  if (select != "auto") return select;
  // value: the reference. Others: see docs/benchmarks.md (criterion x select measurement).
  return criterion == "value" ? "lowest" : "highest";
}

SearchBudget resolve_budget(const ContributionOptions& o) {
  SearchBudget b;
  if (o.search_preset == "fast") {
    b.particles = 6;
    b.iterations = 4;
    b.proxy_epochs = 2;
    b.proxy_fraction = 0.5;
    b.early_stop_margin = 0.05;
    b.ratio_groups = "block";
  }
  search::apply_overrides(b, o);
  if (!o.ratio_groups.empty()) b.ratio_groups = o.ratio_groups;
  return b;
}

std::vector<double> read_ratio_file(const std::string& path, const RatioLayout& layout) {
  auto j = fs::read_json(path);
  if (j.contains("method_report")) j = j.at("method_report");
  if (j.contains("ratios")) j = j.at("ratios");
  check(j.is_object(), path, ": expected a JSON object of ratios by unit name");
  std::vector<double> out(layout.units.size(), -1.0);
  std::vector<int> rank(layout.units.size(), -1);  // 2: unit name, 1: block, 0: stage
  for (auto it = j.begin(); it != j.end(); ++it) {
    check(it.value().is_number(), path, ": ratio of '", it.key(), "' is not a number");
    const double r = it.value().get<double>();
    check(r >= 0 && r <= 1, path, ": ratio of '", it.key(), "' is ", r, ", expected [0,1]");
    bool used = false;
    for (size_t u = 0; u < layout.units.size(); ++u) {
      const auto& unit = layout.units[u];
      const int level = unit.name == it.key() ? 2 : unit.block == it.key() ? 1 : unit.stage == it.key() ? 0 : -1;
      if (level < 0) continue;
      used = true;
      if (level > rank[u]) out[u] = r, rank[u] = level;
    }
    check(used, path, ": '", it.key(), "' names no layer unit, block or stage of this model (first unit: ",
          layout.units.front().name, ")");
  }
  for (size_t u = 0; u < out.size(); ++u) check(out[u] >= 0, path, ": no ratio for unit ", layout.units[u].name);
  return out;
}

void ContributionMethod::prepare(PrepareContext& context) {
  const auto budget = resolve_budget(options_);
  auto model = context.fresh_model();
  auto basis = std::make_shared<ContributionBasis>();
  basis->layout = RatioLayout::build(*model, options_.searches() ? budget.ratio_groups : "unit");
  const auto scores = contribution_scores(*model, options_.criterion, context.data, context.train_options,
                                          options_.taylor_batches);
  basis->order = std::make_shared<ContributionOrder>(scores, options_.resolved_select() == "highest");
  std::vector<double> ratios;
  if (restored_ratios_) {
    check(restored_ratios_->size() == basis->layout.units.size(), "prepared.json: ", restored_ratios_->size(),
          " ratios for ", basis->layout.units.size(), " layer units");
    ratios = *restored_ratios_;
  } else if (options_.ratio >= 0) {
    ratios.assign(basis->layout.units.size(), options_.ratio);
  } else if (!options_.ratios.empty()) {
    ratios = read_ratio_file(options_.ratios, basis->layout);
  } else {
    auto outcome = search_ratios(basis, options_, budget, context);
    if (outcome.report.at("gbest_fitness").get<double>() <= 1e-7) {
      log::warn("contribution search: no particle reached a validation accuracy above 0; gbest stays all-zero ratios");
    }
    ratios = basis->layout.unit_ratios(outcome.group_ratios);
    search_ = std::move(outcome.report);
  }
  use_ratios(basis, ratios);
}

nlohmann::json ContributionMethod::prepared_state() const {
  return {{"unit_ratios", unit_ratios_}, {"search", search_}};
}

void ContributionMethod::restore_prepared(const nlohmann::json& state, PrepareContext& context) {
  restored_ratios_ = state.at("unit_ratios").get<std::vector<double>>();
  search_ = state.at("search");
  prepare(context);
}

void ContributionMethod::use_ratios(std::shared_ptr<const ContributionBasis> basis, std::vector<double> unit_ratios) {
  check(unit_ratios.size() == basis->layout.units.size(), "contribution: ", unit_ratios.size(), " ratios for ",
        basis->layout.units.size(), " units");
  basis_ = std::move(basis);
  unit_ratios_ = std::move(unit_ratios);
}

void ContributionMethod::attach(models::ModelPtr model) {
  Method::attach(std::move(model));
  tensors_.clear();
  head_.clear();
  if (!basis_) return;  // a reopened run: inference needs no masks
  const auto& layout = basis_->layout;
  for (auto& p : model_->named_parameters()) {
    if (models::is_head_param(*model_, p.key())) {
      head_.push_back(p.value());
      continue;
    }
    Tensor t;
    t.name = p.key();
    t.param = p.value();
    t.numel = p.value().numel();
    // A backbone tensor in no unit (none in the current architectures) stays pretrained.
    const auto unit = layout.unit_of_param.find(p.key());
    const double ratio = unit == layout.unit_of_param.end() ? 0.0 : unit_ratios_[unit->second];
    check(basis_->order->numel(t.name) == t.numel, "contribution: ", t.name, " changed size since it was scored");
    t.tuned = tuned_count(ratio, t.numel);
    if (t.tuned > 0 && t.tuned < t.numel) {
      t.mask = basis_->order->mask(t.name, ratio).to(p.value().device());
      if (strict()) t.pretrained = p.value().detach().clone();
    }
    tensors_.push_back(std::move(t));
  }
}

std::vector<ParamGroup> ContributionMethod::param_groups() {
  check(basis_ != nullptr, "contribution: no ratios (prepare() or use_ratios() was not called)");
  std::vector<torch::Tensor> backbone;
  for (auto& t : tensors_) {
    // Strict: fully masked tensors do not train at all (no backward cost, no weight decay).
    // Faithful: every tensor is in the optimizer, so weight decay reaches masked entries.
    if (t.tuned > 0 || !strict()) backbone.push_back(t.param);
  }
  std::vector<ParamGroup> groups;
  if (!backbone.empty()) groups.push_back({"backbone", backbone, 1.0, -1.0});
  groups.push_back({"head", head_, 1.0, -1.0});
  return groups;
}

std::vector<std::shared_ptr<torch::nn::Module>> ContributionMethod::eval_modules() {
  std::vector<std::shared_ptr<torch::nn::Module>> out;
  if (!options_.freeze_bn_stats) return out;
  for (auto& m : model_->modules(/*include_self=*/false)) {
    if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get()) != nullptr) out.push_back(m);
  }
  return out;
}

namespace {

// Entries where `mask` is false take `value`'s entries, or zero when `value` is undefined. On
// contiguous CPU float tensors a plain loop: there LibTorch 1.13's mul_ by a bool mask and
// torch::where take 10-50x longer than the arithmetic (bench/step_bench.sh, docs/benchmarks.md §1).
void reset_unmasked(torch::Tensor& dst, const torch::Tensor& mask, const torch::Tensor& value) {
  const auto plain = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.sizes() == dst.sizes();
  };
  const bool fast = plain(dst) && (!value.defined() || plain(value)) && mask.device().is_cpu() &&
                    mask.scalar_type() == torch::kBool && mask.is_contiguous() && mask.sizes() == dst.sizes();
  if (!fast) {
    if (value.defined()) {
      dst.copy_(torch::where(mask, dst, value));
    } else {
      dst.mul_(mask);
    }
    return;
  }
  // Branch-free bit selects: masks are random, so a branch (or a compiled-in one for a float
  // select) per entry would mispredict half the time; integer and/or vectorise.
  int32_t* d = dst.view(torch::kInt32).data_ptr<int32_t>();
  const bool* m = mask.data_ptr<bool>();
  const int32_t* v = value.defined() ? value.view(torch::kInt32).data_ptr<int32_t>() : nullptr;
  at::parallel_for(0, dst.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    if (v != nullptr) {
      for (int64_t i = begin; i < end; ++i) {
        const int32_t keep = -static_cast<int32_t>(m[i]);
        d[i] = (d[i] & keep) | (v[i] & ~keep);
      }
    } else {
      for (int64_t i = begin; i < end; ++i) d[i] &= -static_cast<int32_t>(m[i]);
    }
  });
}

}  // namespace

void ContributionMethod::after_backward() {
  torch::NoGradGuard no_grad;
  for (auto& t : tensors_) {
    auto& g = t.param.mutable_grad();
    if (!g.defined() || t.tuned == t.numel) continue;
    if (t.tuned == 0) {
      g.zero_();
      continue;
    }
    if (t.mask.device() != g.device()) t.mask = t.mask.to(g.device());
    reset_unmasked(g, t.mask, torch::Tensor());
  }
}

void ContributionMethod::after_step() {
  if (!strict()) return;
  // Momentum and weight decay move masked entries even with a zero gradient; putting the
  // pretrained values back after each step keeps them bit-identical.
  torch::NoGradGuard no_grad;
  for (auto& t : tensors_) {
    if (!t.pretrained.defined()) continue;
    if (t.pretrained.device() != t.param.device()) t.pretrained = t.pretrained.to(t.param.device());
    if (t.mask.device() != t.param.device()) t.mask = t.mask.to(t.param.device());
    reset_unmasked(t.param, t.mask, t.pretrained);
  }
}

std::map<std::string, torch::Tensor> ContributionMethod::masks() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : tensors_) {
    if (t.mask.defined()) out[t.name] = t.mask;
  }
  return out;
}

double ContributionMethod::trainable_fraction() const {
  double tuned = 0, total = 0;
  for (const auto& t : tensors_) tuned += static_cast<double>(t.tuned), total += static_cast<double>(t.numel);
  return total > 0 ? tuned / total : 0.0;
}

std::string ContributionMethod::table() const {
  if (!basis_) return "";
  const auto& units = basis_->layout.units;
  std::vector<int64_t> tuned(units.size(), 0), numel(units.size(), 0);
  for (const auto& t : tensors_) {
    auto it = basis_->layout.unit_of_param.find(t.name);
    if (it == basis_->layout.unit_of_param.end()) continue;
    tuned[it->second] += t.tuned;
    numel[it->second] += t.numel;
  }
  size_t width = 5;
  for (const auto& u : units) width = std::max(width, u.name.size());
  std::ostringstream out;
  out << std::left << std::setw(static_cast<int>(width)) << "layer" << std::right << std::setw(7) << "ratio"
      << std::setw(12) << "tuned" << std::setw(12) << "params" << "\n";
  for (size_t u = 0; u < units.size(); ++u) {
    out << std::left << std::setw(static_cast<int>(width)) << units[u].name << std::right << std::fixed
        << std::setprecision(3) << std::setw(7) << unit_ratios_[u] << std::setw(12) << tuned[u] << std::setw(12)
        << numel[u] << "\n";
  }
  out << "backbone tuned fraction " << std::setprecision(4) << trainable_fraction() << " (" << options_.criterion
      << ", " << options_.resolved_select() << ", " << options_.mask_mode << "); head fully trained\n";
  return out.str();
}

nlohmann::json ContributionMethod::report() {
  if (!basis_) return nlohmann::json::object();
  nlohmann::json ratios = nlohmann::json::object();
  nlohmann::json layers = nlohmann::json::array();
  const auto& layout = basis_->layout;
  for (size_t u = 0; u < layout.units.size(); ++u) {
    ratios[layout.units[u].name] = unit_ratios_[u];
    layers.push_back({{"unit", layout.units[u].name},
                      {"group", layout.groups[layout.group_of_unit[u]]},
                      {"ratio", unit_ratios_[u]}});
  }
  int64_t tuned = 0, numel = 0;
  for (const auto& t : tensors_) tuned += t.tuned, numel += t.numel;
  return {{"criterion", options_.criterion},
          {"select", options_.resolved_select()},
          {"mask_mode", options_.mask_mode},
          {"freeze_bn_stats", options_.freeze_bn_stats},
          {"ratios", ratios},
          {"layers", layers},
          {"backbone_tuned_params", tuned},
          {"backbone_params", numel},
          {"trainable_fraction_backbone", trainable_fraction()},
          {"search", search_},
          {"table", table()}};
}

MethodInfo contribution_method() {
  MethodInfo info{"contribution", "tune a per-layer fraction of parameters chosen by contribution; ratios by PSO",
                  [] { return std::make_unique<ContributionOptions>(); },
                  [](const Options& o) {
                    return std::make_shared<ContributionMethod>(dynamic_cast<const ContributionOptions&>(o));
                  }};
  info.demo_budget = [](Options& o) {
    auto& c = dynamic_cast<ContributionOptions&>(o);
    c.search_preset = "fast";
    c.particles = 3;
    c.iterations = 1;
    c.proxy_epochs = 1;
    c.proxy_fraction = 0.5;
    c.ratio_groups = "stage";
  };
  return info;
}

}  // namespace aft::methods
