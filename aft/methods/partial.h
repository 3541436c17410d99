// Partial fine-tuning (Ye et al. 2023, docs/partial.md): only some tunable units train, plus
// the head — picked by one of eight hand-made strategies, or by fine-tuned angle (partial_angle.h).
// With --freeze-bn-stats, frozen units are also kept out of batch-norm statistics, so they stay
// bit-identical; by default their running statistics follow the target (docs/partial.md).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "aft/methods/registry.h"

namespace aft::methods {

struct PartialOptions : Options {
  std::string select = "strategy";    // strategy|angle
  std::string strategy = "last-half"; // one of partial_strategies(); works on ViTs and ResNets
  int64_t angle_epochs = 1;           // length of the full fine-tune the angles are measured on
  std::string k = "auto";             // units per homogeneous group (an integer), or auto
  std::string pick = "largest";       // largest|smallest|auto
  int64_t proxy_epochs = 1;           // epochs of each proxy run that --k/--pick auto compare
  bool freeze_bn_stats = false;       // frozen units' batch norms keep pretrained statistics (references: they update)
  void visit(OptionVisitor& v) override;
  void validate() const override;
  // --k as a number; 0 when auto.
  int64_t k_value() const;
};

// The eight strategies, in the order of partial.md's table.
const std::vector<std::string>& partial_strategies();

// Backbone parameters (head excluded) a strategy trains, in named_parameters() order. Throws
// for the attn/ffn strategies on models without attention/FFN units (ResNets).
std::vector<std::string> strategy_params(const models::VisionModel& model, const std::string& strategy);

// Backbone parameters of the named block-level units, in named_parameters() order.
std::vector<std::string> unit_params(const models::VisionModel& model, const std::vector<std::string>& units);

class PartialMethod : public Method {
 public:
  explicit PartialMethod(PartialOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "partial"; }
  // --select angle: the short full fine-tune, the angles and (auto) the proxy runs.
  void prepare(PrepareContext& context) override;
  nlohmann::json prepared_state() const override;
  void restore_prepared(const nlohmann::json& state, PrepareContext& context) override;
  void attach(models::ModelPtr model) override;
  std::vector<ParamGroup> param_groups() override;
  // --freeze-bn-stats: batch norms of frozen units stay in eval mode.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override;
  nlohmann::json report() override;

  // Trains exactly these block-level units (and the head); prepare() then selects nothing.
  void set_units(std::vector<std::string> units);
  const std::set<std::string>& trainable() const { return trainable_; }

 private:
  PartialOptions options_;
  bool units_fixed_ = false;
  std::vector<std::string> units_;        // chosen units (select angle / set_units)
  nlohmann::json selection_report_;       // angles, groups, proxy runs
  std::set<std::string> trainable_;       // backbone parameter names that train
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_norms_;
};

MethodInfo partial_method();

}  // namespace aft::methods
