// Parameter-contribution masks (docs/contribution.md): which layer unit and search group
// each backbone tensor belongs to, contribution scores per criterion, and one cached argsort
// per tensor so that the mask for any ratio is a prefix of that order.
#pragma once
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aft/models/model.h"

namespace aft::train {
struct TrainData;
struct TrainOptions;
}

namespace aft::methods {

// The search space: layer-level units (a conv with its norm; a downsample joins its block's
// last unit) coarsened into groups by `unit`, `block` or `stage`. A unit's ratio applies to
// every parameter it holds.
struct RatioLayout {
  std::string level;                            // unit|block|stage
  std::vector<models::TunableUnit> units;       // layer-level, input to output
  std::vector<std::string> groups;              // one search dimension each
  std::vector<size_t> group_of_unit;
  std::map<std::string, size_t> unit_of_param;  // backbone parameter name -> unit index

  static RatioLayout build(const models::VisionModel& model, const std::string& level);
  std::vector<double> unit_ratios(const std::vector<double>& group_ratios) const;
};

// Contribution score of every backbone parameter (higher = more of the criterion):
// value: w (signed); magnitude: |w|; taylor: sum over batches |w * dL/dw|; fisher: sum (dL/dw)^2.
// taylor/fisher run `batches` forward/backward passes on the training split (never val/test).
std::map<std::string, torch::Tensor> contribution_scores(models::VisionModel& model, const std::string& criterion,
                                                         const train::TrainData* data,
                                                         const train::TrainOptions* options, int64_t batches);

// floor(ratio * numel), as the reference's int(rate * numel).
int64_t tuned_count(double ratio, int64_t numel);

class ContributionOrder {
 public:
  // Sorts each tensor's scores once (stable, so ties resolve by position); `highest` tunes
  // from the top of the scores, otherwise from the bottom (the reference: lowest signed value).
  ContributionOrder(const std::map<std::string, torch::Tensor>& scores, bool highest);
  // Bool mask in the parameter's shape: true for the floor(ratio*numel) tuned entries.
  torch::Tensor mask(const std::string& name, double ratio) const;
  int64_t numel(const std::string& name) const;
  bool has(const std::string& name) const { return order_.count(name) > 0; }
  int64_t sorts() const { return sorts_; }  // argsorts performed: one per tensor

 private:
  struct Entry {
    torch::Tensor order;  // int64 flat indices, tuned-first
    std::vector<int64_t> shape;
  };
  std::map<std::string, Entry> order_;
  int64_t sorts_ = 0;
};

// What every model of one job shares: the layout and the cached order (pretrained weights and
// scores are the same for every fresh model, so the order is computed once per job).
struct ContributionBasis {
  RatioLayout layout;
  std::shared_ptr<const ContributionOrder> order;
};

}  // namespace aft::methods
