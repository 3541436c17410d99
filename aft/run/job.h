// End-to-end jobs shared by the CLI and the demo: pretrain or fine-tune into a run directory
// (data, model, method, Trainer, outputs), and reopen a finished run for eval / predict.
#pragma once
#include <functional>
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
#include "aft/train/trainer.h"

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


// The data preset and output size a run uses ("auto" looks at the training images).
struct ResolvedTransform {
  std::string preset;
  int64_t size;
};
// `arch` (may be empty) picks the normalisation its pretrained weights expect under --transform auto.
ResolvedTransform resolve_transform(const train::TrainOptions& options, const data::Splits& splits,
                                    const std::string& arch = "");

// What every job opens before it trains: the task's splits and transforms, the model's
// configuration, and a factory of fresh pretrained models (the same weights and, through the
// seed, the same new head each time).
struct JobInputs {
  train::TrainData task;
  ResolvedTransform transform;
  models::ModelConfig config;  // unset when the method builds its own model
  std::string weights;         // resolved path, may be empty (pretraining)
  int64_t classes = 0;
  int64_t image_size = 0;
  std::function<models::ModelPtr()> fresh_model;
};
// `own_model_arch`: with own_model, the architecture whose input normalisation the method's
// model expects (Method::own_model_arch).
JobInputs open_job_inputs(const JobSpec& spec, bool own_model, const std::string& own_model_arch = "");
// config.json's content for a job.
nlohmann::json job_config(JobSpec& spec, const JobInputs& inputs, const torch::Device& device, bool own_model);

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
// Plain pretrained weights with their own head, for prediction: classes from the file's metadata
// ("classes", else 0..N-1); transform auto: the recipe the architecture's weights were made with.
LoadedRun load_weights_for_predict(const std::string& arch, const std::string& weights, const std::string& transform,
                                   const std::string& device);




// A finished training's figures as summary.json keys: test accuracy, loss, top-5, ECE and the
// per-class metrics; best and final validation; epochs; training seconds and images/s. Every
// run's summary (a method's, auto's winner's) starts from it.
nlohmann::json result_summary(const train::TrainResult& result);

}  // namespace aft::run
