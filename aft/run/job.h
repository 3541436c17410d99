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
#include "aft/models/source.h"
#include "aft/train/train_options.h"

namespace aft::run {


struct JobSpec {
  std::string command = "finetune";  // pretrain|finetune
  std::string data;
  std::string out;
  bool overwrite = false;
  std::string resume;                // run directory to continue
  train::TrainOptions train;
  models::ModelOptions model;
  std::string method = "full";
  std::unique_ptr<Options> method_options;
  std::set<std::string> explicit_flags;  // flags given on the command line (resume consistency)
  bool quiet = false;
  // A multi-process run (apps/aft forms it from the launcher's environment); null: one process.
  // Every rank runs the whole job; rank 0 alone writes the run directory.
  std::shared_ptr<dist::Group> dist;
};


// Runs the job and returns summary.json's content.
nlohmann::json run_job(JobSpec& spec);

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

// The data preset and output size a run uses ("auto" looks at the training images).
struct ResolvedTransform {
  std::string preset;
  int64_t size;
};
ResolvedTransform resolve_transform(const train::TrainOptions& options, const data::Splits& splits);


}  // namespace aft::run
