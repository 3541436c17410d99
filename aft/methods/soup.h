// Model soups (Wortsman et al. 2022; docs/partial.md): average the weights of fine-tuned runs
// that share architecture, pretrained start and head — all of them (uniform) or greedily by
// validation accuracy — into a new run directory that `aft eval --run` opens like any other.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "aft/models/weights.h"

namespace aft::methods {


// The building blocks; aft/run/soup_run.h puts them together with data and evaluation.

struct Ingredient {
  std::string run;
  nlohmann::json config;      // the run's config.json
  models::TensorMap state;    // its model.safetensors
};

Ingredient read_ingredient(const std::string& run);

// Throws unless every ingredient matches the first in architecture, pretrained start (weights
// file content), head/classes, transform, validation split and state-dict keys and shapes; the
// message names the run and the mismatching field with both values.
void check_ingredients(const std::vector<Ingredient>& ingredients);

// Averages states key by key: floating tensors as the mean (in float64), integers (BN's
// num_batches_tracked) from the first; tensors equal in every state are copied bit for bit.
models::TensorMap average_states(const std::vector<const models::TensorMap*>& states);

struct GreedyResult {
  std::vector<size_t> kept;            // ingredient indices, in the order they were added
  double val_accuracy = 0;             // the soup's
  nlohmann::json steps = nlohmann::json::array();
};

// Greedy soup: ingredients in order of decreasing val accuracy (ties: given order); each is
// added when the soup's val accuracy (soup_val of the candidate members) does not drop. The
// result is never below the best ingredient's accuracy.
GreedyResult greedy_soup(const std::vector<double>& val_accuracy,
                         const std::function<double(const std::vector<size_t>&)>& soup_val);

}  // namespace aft::methods
