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
#include "aft/run/load_run.h"
#include "aft/run/run_data.h"
#include "aft/train/run_dir.h"
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

// A job resolved once (open_job): the spec after --resume's checks and validation, its inputs,
// device and run directory, and config.json as written. Its two consumers are peers: run_method
// (one method, below) and run_auto (a race of methods, auto_race.h).
struct Job {
  JobSpec& spec;
  torch::Device device;
  bool main_rank = true;
  bool resuming = false;
  JobInputs in;
  std::unique_ptr<train::RunDir> run;  // rank 0 alone owns the run directory; null on the others
  nlohmann::json config;               // config.json's content
};
// What the consumer knows before the run directory exists.
struct JobNeeds {
  bool own_model = false;             // the method builds its own models (Method::builds_own_model)
  std::string own_model_arch;         // then: the architecture whose input normalisation they expect
  std::vector<std::string> inputs;    // further inputs --out must not lie in (a method's sources)
  std::function<void(const models::ModelConfig&)> check_model;  // refusals against the model, first
};
Job open_job(JobSpec& spec, const JobNeeds& needs);
// Before anything runs: --resume checked against the run's config.json (the stored configuration
// wins; a flag given again must agree with it), then every option validated.
void check_job(JobSpec& spec);

// Runs the job and returns summary.json's content: checks and validates the spec (and --resume
// against the run's config.json), then hands it to run_auto when the method's MethodInfo says it
// races other methods, else to run_method (run_job.cpp).
nlohmann::json run_job(JobSpec& spec);
// One method trained into the run directory.
nlohmann::json run_method(JobSpec& spec);

// A finished training's figures as summary.json keys: test accuracy, loss, top-5, ECE and the
// per-class metrics; best and final validation; epochs; training seconds and images/s. Every
// run's summary (a method's, auto's winner's) starts from it.
nlohmann::json result_summary(const train::TrainResult& result);

}  // namespace aft::run
