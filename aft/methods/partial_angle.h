// Fine-tuned angle selection (partial.md): the angle between each unit's pretrained and briefly
// fine-tuned weights, ranked within homogeneous groups, top-K picked; with --k/--pick auto the
// choice is made by the validation accuracy of short proxy runs.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/methods/partial.h"

namespace aft::methods {

struct UnitAngle {
  std::string name;
  std::string group;
  double angle = 0;     // radians
  int64_t rank = 0;     // 1 = largest angle within its group
  bool chosen = false;
};

// arccos(<vec(a), vec(b)> / (|vec(a)| |vec(b)|)) over the concatenation of the tensors, in float64.
double weights_angle(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);

// The angle of every block-level unit between two models of the same architecture, in unit order.
std::vector<UnitAngle> unit_angles(const models::VisionModel& pretrained, const models::VisionModel& tuned);

// Marks the top k units of each group by angle (largest or smallest first; ties keep unit
// order); k is clamped to each group's size. Also fills rank.
void pick_top_k(std::vector<UnitAngle>& angles, int64_t k, bool largest);

std::vector<std::string> chosen_units(const std::vector<UnitAngle>& angles);

// The K values --k auto tries: 1, a quarter and a half of the largest group (rounded up).
std::vector<int64_t> auto_k_candidates(const std::vector<UnitAngle>& angles);

struct AngleSelection {
  std::vector<UnitAngle> angles;
  int64_t k = 0;
  std::string pick;
  nlohmann::json report;  // angles, the fine-tune's accuracy, the proxy runs
};

// Steps 1-3 of partial.md through the one Trainer: a full fine-tune of a fresh pretrained model
// (--angle-epochs), angles, and the pick (proxy runs for auto). Needs a validation split for auto.
AngleSelection select_by_angle(PrepareContext& context, const PartialOptions& options);

}  // namespace aft::methods
