// Opening model sources: the model flags a job takes (--model, --weights, --stem, --width,
// --keep-head), weights given as a file or as a run directory, and the architecture a set of
// pretrained weights describes (the flags checked against the file's own metadata). Single-
// source jobs and multi-source ensembles open their sources here, and nowhere else.
#pragma once
#include <cstdint>
#include <string>

#include "aft/core/options.h"
#include "aft/models/model.h"

namespace aft::models {

struct ModelOptions : Options {
  std::string model;      // architecture; empty: from the weights file's metadata
  std::string weights;    // pretrained safetensors, or a run directory holding model.safetensors
  std::string stem;       // imagenet|small; empty: from the weights, else imagenet
  double width = 0;       // ResNet width multiplier; 0: from the weights, else 1
  bool keep_head = false; // keep the pretrained classifier (class counts must match)
  void visit(OptionVisitor& v) override;
};

// The architecture of a model to build from pretrained weights: --model (checked against the
// file's metadata) or the metadata's arch, stem and width; sized for the task.
models::ModelConfig resolve_model_config(const ModelOptions& options, const std::string& weights, int64_t classes,
                                         int64_t image_size);

// The architecture alone: --model (checked against the file's metadata) or the metadata's.
std::string resolve_arch(const ModelOptions& options, const std::string& weights);

// Resolves weights given as a run directory to its model.safetensors.
std::string resolve_weights_path(const std::string& weights);

}  // namespace aft::models
