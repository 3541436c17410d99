// A finished run, or plain pretrained weights, reopened for inference (aft eval, aft predict).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/data/splits.h"
#include "aft/data/transforms.h"
#include "aft/methods/method.h"

namespace aft::run {

// A finished run reopened for inference.
struct LoadedRun {
  nlohmann::json config;
  methods::MethodPtr method;
  std::vector<std::string> classes;
  data::TransformPtr eval_transform;
};
LoadedRun load_run(const std::string& run, const std::string& device);

// Plain pretrained weights opened for evaluation on `splits` (class counts must match).
LoadedRun load_weights_for_eval(const std::string& arch, const std::string& weights, const data::Splits& splits,
                                 const std::string& transform, const std::string& device);
// Plain pretrained weights with their own head, for prediction: classes from the file's metadata
// ("classes", else 0..N-1); transform auto: the recipe the architecture's weights were made with.
LoadedRun load_weights_for_predict(const std::string& arch, const std::string& weights, const std::string& transform,
                                   const std::string& device);




}  // namespace aft::run
