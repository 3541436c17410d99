#include "aft/methods/partial.h"

#include <torch/torch.h>

#include <map>

#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/core/log.h"
#include "aft/methods/partial_angle.h"

namespace aft::methods {
namespace {

const std::vector<std::string> kStrategies = {"attn",           "ffn",           "first-half", "last-half",
                                              "attn-last-half", "ffn-last-half", "alternate",  "norm-bias"};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_norm(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&m) || dynamic_cast<const torch::nn::LayerNormImpl*>(&m) ||
         dynamic_cast<const torch::nn::GroupNormImpl*>(&m);
}

// Keeps the model's parameter order so parameter groups are stable across runs.
std::vector<std::string> in_model_order(const models::VisionModel& model, const std::set<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& p : model.named_parameters(true)) {
    if (names.count(p.key())) out.push_back(p.key());
  }
  return out;
}

std::vector<std::string> norm_bias_params(const models::VisionModel& model) {
  // BitFit-like: every norm's affine parameters and every bias of the backbone, embeddings and
  // final norm included ("everywhere").
  std::set<std::string> names;
  for (const auto& m : model.named_modules("", false)) {
    if (!is_norm(*m.value())) continue;
    for (const auto& p : m.value()->named_parameters(false)) names.insert(m.key() + "." + p.key());
  }
  for (const auto& p : model.named_parameters(true)) {
    if (ends_with(p.key(), "bias")) names.insert(p.key());
  }
  for (auto it = names.begin(); it != names.end();) {
    it = models::is_head_param(model, *it) ? names.erase(it) : std::next(it);
  }
  return in_model_order(model, names);
}

}  // namespace

void PartialOptions::visit(OptionVisitor& v) {
  v.field("select", "what decides the tuned units: strategy (--strategy) | angle (fine-tuned angle)", select);
  v.field("strategy",
          "with --select strategy: attn|ffn|first-half|last-half|attn-last-half|ffn-last-half|alternate|norm-bias "
          "(attn/ffn ones: ViT only; halves/alternate count residual or transformer blocks)",
          strategy);
  v.field("angle-epochs", "with --select angle: epochs of the full fine-tune the angles are measured on", angle_epochs);
  v.field("k", "with --select angle: units tuned per homogeneous group (integer), or auto (proxy runs on validation)", k);
  v.field("pick", "with --select angle: largest|smallest angles first, or auto (proxy runs on validation)", pick);
  v.field("proxy-epochs", "with --k/--pick auto: epochs of each proxy run", proxy_epochs);
  v.field("freeze-bn-stats",
          "frozen units' batch norms keep their pretrained running statistics (default: they follow the target "
          "data, as the references keep the whole network in training mode)",
          freeze_bn_stats);
}

void PartialOptions::validate() const {
  check_choice("--select", select, {"strategy", "angle"});
  check_choice("--strategy", strategy,
               {"attn", "ffn", "first-half", "last-half", "attn-last-half", "ffn-last-half", "alternate", "norm-bias"});
  check_choice("--pick", pick, {"largest", "smallest", "auto"});
  check(angle_epochs >= 1, "--angle-epochs ", angle_epochs, ": must be at least 1");
  check(proxy_epochs >= 1, "--proxy-epochs ", proxy_epochs, ": must be at least 1");
  k_value();
}

int64_t PartialOptions::k_value() const {
  if (k == "auto") return 0;
  const auto value = parse_integer(k);
  check(value && *value >= 1, "--k ", k.empty() ? "(empty)" : k, ": expected a positive integer or auto");
  return *value;
}

const std::vector<std::string>& partial_strategies() { return kStrategies; }

std::vector<std::string> unit_params(const models::VisionModel& model, const std::vector<std::string>& units) {
  const std::set<std::string> wanted(units.begin(), units.end());
  std::set<std::string> names, found;
  for (const auto& u : model.units(models::UnitLevel::block)) {
    if (!wanted.count(u.name)) continue;
    found.insert(u.name);
    names.insert(u.params.begin(), u.params.end());
  }
  for (const auto& u : units) check(found.count(u), "partial: the model has no unit named ", u);
  return in_model_order(model, names);
}

std::vector<std::string> strategy_params(const models::VisionModel& model, const std::string& strategy) {
  check_choice("--strategy", strategy,
               {"attn", "ffn", "first-half", "last-half", "attn-last-half", "ffn-last-half", "alternate", "norm-bias"});
  if (strategy == "norm-bias") return norm_bias_params(model);
  const auto units = model.units(models::UnitLevel::block);
  const bool has_attn = std::any_of(units.begin(), units.end(), [](const auto& u) { return u.group == "attn"; });
  const bool wants_kind = strategy.rfind("attn", 0) == 0 || strategy.rfind("ffn", 0) == 0;
  check(!wants_kind || has_attn, "--strategy ", strategy, ": ", model.config().arch,
        " has no attention/FFN units (only ViTs do); on ResNets use first-half, last-half, alternate or norm-bias");
  const std::string kind = wants_kind ? strategy.substr(0, strategy.find('-')) : "";
  // Blocks in input-to-output order; a ResNet-26's final_bn belongs to its last block.
  std::map<std::string, int64_t> block_index;
  for (const auto& u : units) block_index.emplace(u.block, static_cast<int64_t>(block_index.size()));
  const int64_t blocks = static_cast<int64_t>(block_index.size());
  std::vector<std::string> chosen;
  for (const auto& u : units) {
    const int64_t b = block_index.at(u.block);
    bool take = kind.empty() || u.group == kind;
    // With an odd block count the last half gets the middle block.
    if (strategy == "first-half") take = b < blocks / 2;
    if (ends_with(strategy, "last-half")) take = take && b >= blocks / 2;
    if (strategy == "alternate") take = b % 2 == 0;  // blocks 1, 3, 5, ... counted from 1
    if (take) chosen.push_back(u.name);
  }
  return unit_params(model, chosen);
}

void PartialMethod::set_units(std::vector<std::string> units) {
  units_ = std::move(units);
  units_fixed_ = true;
}

void PartialMethod::prepare(PrepareContext& context) {
  if (options_.select != "angle" || units_fixed_) return;
  auto selection = select_by_angle(context, options_);
  units_ = chosen_units(selection.angles);
  selection_report_ = std::move(selection.report);
}

nlohmann::json PartialMethod::prepared_state() const {
  if (options_.select != "angle" || units_fixed_) return nullptr;
  return {{"units", units_}, {"selection", selection_report_}};
}

void PartialMethod::restore_prepared(const nlohmann::json& state, PrepareContext&) {
  units_ = state.at("units").get<std::vector<std::string>>();
  selection_report_ = state.at("selection");
}

void PartialMethod::attach(models::ModelPtr model) {
  Method::attach(std::move(model));
  const bool by_units = units_fixed_ || options_.select == "angle";
  // Reopened for inference (load_run) an angle run has no selection: only the head is marked
  // trainable, which does not matter in eval mode.
  const auto names = by_units ? unit_params(*model_, units_) : strategy_params(*model_, options_.strategy);
  trainable_ = std::set<std::string>(names.begin(), names.end());
  frozen_norms_.clear();
  for (const auto& m : model_->named_modules("", false)) {
    if (!dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.value().get())) continue;
    if (models::is_head_param(*model_, m.key() + ".weight") || trainable_.count(m.key() + ".weight")) continue;
    frozen_norms_.push_back(m.value());
  }
}

std::vector<ParamGroup> PartialMethod::param_groups() {
  std::vector<torch::Tensor> units, head;
  for (auto& p : model_->named_parameters(true)) {
    if (models::is_head_param(*model_, p.key())) {
      head.push_back(p.value());
    } else if (trainable_.count(p.key())) {
      units.push_back(p.value());
    }
  }
  std::vector<ParamGroup> groups;
  if (!units.empty()) groups.push_back({"units", units, 1.0, -1.0});
  groups.push_back({"head", head, 1.0, -1.0});
  return groups;
}

std::vector<std::shared_ptr<torch::nn::Module>> PartialMethod::eval_modules() {
  return options_.freeze_bn_stats ? frozen_norms_ : std::vector<std::shared_ptr<torch::nn::Module>>{};
}

nlohmann::json PartialMethod::report() {
  nlohmann::json r = {{"select", options_.select}, {"trainable_tensors", trainable_.size()}};
  if (options_.select == "strategy" && !units_fixed_) r["strategy"] = options_.strategy;
  if (units_fixed_ || options_.select == "angle") r["trainable_units"] = units_;
  if (!selection_report_.is_null()) r["angle_selection"] = selection_report_;
  return r;
}

MethodInfo partial_method() {
  MethodInfo info{"partial", "partial fine-tuning: a block strategy or fine-tuned-angle units, plus the head",
                  [] { return std::make_unique<PartialOptions>(); },
                  [](const Options& o) { return std::make_shared<PartialMethod>(dynamic_cast<const PartialOptions&>(o)); }};
  info.demo_budget = [](Options& o) {
    auto& p = dynamic_cast<PartialOptions&>(o);
    p.select = "angle";
    p.angle_epochs = 1;
    p.k = "1";
  };
  return info;
}

}  // namespace aft::methods
