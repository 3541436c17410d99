// End-to-end jobs shared by the CLI and the demo: pretrain or fine-tune into a run directory
// (data, model, method, Trainer, outputs), and reopen a finished run for eval / predict.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "aft/core/options.h"
#include "aft/data/splits.h"
#include "aft/data/transforms.h"
#include "aft/methods/method.h"
#include "aft/train/train_options.h"

namespace aft::methods {

struct ModelOptions : Options {
  std::string model;      // architecture; empty: from the weights file's metadata
  std::string weights;    // pretrained safetensors, or a run directory holding model.safetensors
  std::string stem;       // imagenet|small; empty: from the weights, else imagenet
  double width = 0;       // ResNet width multiplier; 0: from the weights, else 1
  bool keep_head = false; // keep the pretrained classifier (class counts must match)
  void visit(OptionVisitor& v) override;
};

struct JobSpec {
  std::string command = "finetune";  // pretrain|finetune
  std::string data;
  std::string out;
  bool overwrite = false;
  std::string resume;                // run directory to continue
  train::TrainOptions train;
  ModelOptions model;
  std::string method = "full";
  std::unique_ptr<Options> method_options;
  std::set<std::string> explicit_flags;  // flags given on the command line (resume consistency)
  bool quiet = false;
  // A multi-process run (apps/aft forms it from the launcher's environment); null: one process.
  // Every rank runs the whole job; rank 0 alone writes the run directory.
  std::shared_ptr<dist::Group> dist;
};

// The architecture of a model to build from pretrained weights: --model (checked against the
// file's metadata) or the metadata's arch, stem and width; sized for the task.
models::ModelConfig resolve_model_config(const ModelOptions& options, const std::string& weights, int64_t classes,
                                         int64_t image_size);

// Runs the job and returns summary.json's content.
nlohmann::json run_job(JobSpec& spec);

// A finished run reopened for inference.
struct LoadedRun {
  nlohmann::json config;
  MethodPtr method;
  std::vector<std::string> classes;
  data::TransformPtr eval_transform;
};
LoadedRun load_run(const std::string& run, const std::string& device);

// Plain pretrained weights opened for evaluation on `splits` (class counts must match).
LoadedRun load_weights_for_eval(const std::string& arch, const std::string& weights, const data::Splits& splits,
                                 const std::string& transform, const std::string& device);

// The data preset and output size a run uses ("auto" looks at the training images).
struct ResolvedTransform {
  std::string preset;
  int64_t size;
};
ResolvedTransform resolve_transform(const train::TrainOptions& options, const data::Splits& splits);

// Resolves weights given as a run directory to its model.safetensors.
std::string resolve_weights_path(const std::string& weights);

}  // namespace aft::methods
