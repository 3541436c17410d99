// `contribution` (Feng et al., docs/contribution.md): per layer unit, only the r_l fraction of
// entries chosen by a contribution score trains; the rest stays pretrained. The ratios are
// given (--ratio, --ratios) or searched by PSO on validation accuracy of short proxy runs.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aft/methods/contribution_masks.h"
#include "aft/methods/registry.h"
#include "aft/search/search_options.h"

namespace aft::methods {

// The search flags (particles, iterations, proxy epochs, ...) come from search::SearchOptions.
struct ContributionOptions : search::SearchOptions {
  std::string criterion = "value";     // value|magnitude|taylor|fisher
  std::string select = "auto";         // auto|lowest|highest
  double ratio = -1;                   // one ratio for every unit; <0: not given
  std::string ratios;                  // JSON file of ratios by unit (or block/stage) name
  std::string ratio_groups;            // unit|block|stage; empty: the search preset's
  std::string mask_mode = "strict";    // strict|faithful
  bool freeze_bn_stats = false;
  std::string search_preset = "paper"; // paper|fast|none
  int64_t taylor_batches = 8;

  void visit(OptionVisitor& v) override;
  void validate() const override;
  bool searches() const { return ratio < 0 && ratios.empty(); }
  std::string resolved_select() const;
};

// The search settings after applying --search-preset and the explicit overrides.
struct SearchBudget : search::SearchBudget {
  std::string ratio_groups = "unit";  // the PSO's dimensions: one per unit, block or stage
};
SearchBudget resolve_budget(const ContributionOptions& options);

class ContributionMethod : public Method {
 public:
  explicit ContributionMethod(ContributionOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "contribution"; }
  // Scores and sorts every tensor once, then takes the given ratios or searches them.
  void prepare(PrepareContext& context) override;
  nlohmann::json prepared_state() const override;
  // Recomputes the contribution scores (one cheap pass) and takes the saved ratios: no search.
  void restore_prepared(const nlohmann::json& state, PrepareContext& context) override;
  // Builds masks for this model from the ratios; without prepare (reopened runs) it only keeps the model.
  void attach(models::ModelPtr model) override;
  std::vector<ParamGroup> param_groups() override;
  // --freeze-bn-stats: every batch norm keeps its pretrained running statistics.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override;
  void after_backward() override;
  void after_step() override;
  nlohmann::json report() override;

  // Search proxies and tests: fixed per-unit ratios over an existing basis (no prepare).
  void use_ratios(std::shared_ptr<const ContributionBasis> basis, std::vector<double> unit_ratios);
  const std::vector<double>& unit_ratios() const { return unit_ratios_; }
  std::shared_ptr<const ContributionBasis> basis() const { return basis_; }
  // Bool masks of the attached model's partially tuned tensors, by parameter name.
  std::map<std::string, torch::Tensor> masks() const;
  // Tuned entries / backbone entries.
  double trainable_fraction() const;
  // The chosen ratios per layer as a compact text table (also in report()["table"]).
  std::string table() const;

 private:
  struct Tensor {
    std::string name;
    torch::Tensor param;
    torch::Tensor mask;        // defined only when 0 < tuned < numel
    torch::Tensor pretrained;  // strict mode, partially tuned tensors
    int64_t tuned = 0;
    int64_t numel = 0;
  };
  bool strict() const { return options_.mask_mode == "strict"; }

  ContributionOptions options_;
  std::shared_ptr<const ContributionBasis> basis_;
  std::vector<double> unit_ratios_;
  std::vector<Tensor> tensors_;
  std::vector<torch::Tensor> head_;
  nlohmann::json search_ = nullptr;
  // The saved outcome of an earlier prepare() (resume): used instead of searching again.
  std::optional<std::vector<double>> restored_ratios_;
};

// Reads --ratios: {"unit": r, ...}, {"ratios": {...}} or a summary.json; keys are unit, block
// or stage names (a unit's own name wins); every unit needs a ratio.
std::vector<double> read_ratio_file(const std::string& path, const RatioLayout& layout);

MethodInfo contribution_method();

}  // namespace aft::methods
