// What a run reads: its splits and its transform, resolved from its options (a new job) or
// reopened from a finished run's config.json (eval, soup), so both see the same images.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "aft/data/splits.h"
#include "aft/train/train_options.h"

namespace aft::run {

// The data preset and output size a run uses ("auto" looks at the training images).
struct ResolvedTransform {
  std::string preset;
  int64_t size;
};
// `arch` (may be empty) picks the normalisation its pretrained weights expect under --transform auto.
ResolvedTransform resolve_transform(const train::TrainOptions& options, const data::Splits& splits,
                                    const std::string& arch = "");

// The data options of a job's splits: its root, validation fraction, shots, seed and --skip-bad.
data::DataOptions split_options(const std::string& root, const train::TrainOptions& train);
// The splits a run trained on, reopened from its config.json: the same images in each split.
// `root` (may be empty: the run's own data) replaces the data's location (eval/soup --data).
data::Splits reopen_splits(const nlohmann::json& config, const std::string& root = "");

}  // namespace aft::run
