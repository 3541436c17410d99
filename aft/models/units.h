// Helpers the architectures share to describe their tunable units: collecting parameter
// names by prefix, and naming homogeneous groups by the parameter shapes of each unit.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "aft/models/model.h"

namespace aft::models {

// Parameter names (in named_parameters() order) equal to `prefix` or under `prefix.`.
std::vector<std::string> params_with_prefix(const torch::nn::Module& module, const std::string& prefix);

// Sets each unit's group so that units with identical parameter shapes share one; a group is
// named after its first unit, which keeps names readable and stable across runs.
void assign_shape_groups(std::vector<TunableUnit>& units, const torch::nn::Module& module);

}  // namespace aft::models
