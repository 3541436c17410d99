// The interface through which every fine-tuning method plugs into the one training loop.
// A method prepares the model, says what trains (parameter groups), may add loss terms,
// act after backward/step (masks), adjust per-epoch learning rates, and report findings.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/core/options.h"
#include "aft/models/model.h"
#include "aft/models/weights.h"
#include "aft/train/learner.h"

namespace aft::dist {
class Group;
}

namespace aft::train {
class Trainer;
struct TrainData;
struct TrainOptions;
}

namespace aft::methods {

class FeatureCache;

// The Trainer's vocabulary, under the names methods have always used.
using train::LossFn;
using train::ParamGroup;
using train::StepOutput;

// What a method may use before the final training: fresh copies of the pretrained model
// (for searches and preliminary runs through the same Trainer), the task, and the recipe.
struct PrepareContext {
  std::function<models::ModelPtr()> fresh_model;  // pretrained weights, new head, on CPU
  const train::TrainData* data = nullptr;
  const train::TrainOptions* train_options = nullptr;
  std::string run_dir;  // for the method's own files (search history); may be empty
  bool quiet = false;
  int64_t num_classes = 0;  // of the task
  int64_t image_size = 0;   // after the eval transform
  // Multi-process runs: searches spread their evaluations over it (search/parallel.h); null: one process.
  std::shared_ptr<dist::Group> dist;
  // Where searches keep their journals (RUN/search), so a killed search resumes where it
  // stopped; empty: no journal (search proxies, tests). Every rank reads it, one writes.
  std::string search_dir;
  bool search_writer = true;
  // Frozen-backbone features shared by the linear probes of several runs over the same source
  // and images (a race's folds); null: a probe computes its own.
  std::shared_ptr<FeatureCache> features;
  // The journal file of the search called `name`, or "" without a search_dir.
  std::string journal(const std::string& name) const {
    return search_dir.empty() ? std::string() : search_dir + "/" + name + ".jsonl";
  }
};

// What a method that assembles its own network (several sources) needs to build it.
struct OwnModelSpec {
  int64_t num_classes = 0;
  int64_t image_size = 0;
  bool pretrained = true;  // false: reopening a finished run, whose weights are loaded after
  uint64_t seed = 0;       // new heads are drawn from this seed
};

// A fine-tuning method: a Learner the Trainer drives, plus what only methods have (searches
// in prepare(), attaching to the pretrained model, their own report).
class Method : public train::Learner {
 public:
  // Methods that build their network from their own options (the multi-source ensemble)
  // return true: run_job then takes no --weights, passes no fresh_model to prepare(), and calls
  // build_own_model() instead of attach().
  virtual bool builds_own_model() const { return false; }
  virtual void build_own_model(const OwnModelSpec&) {}
  // Metadata for model.safetensors when the method built its own model.
  virtual std::map<std::string, std::string> own_model_metadata() const { return {}; }
  // The architecture whose inputs (normalisation) the method's own model takes; "" if none.
  virtual std::string own_model_arch() const { return ""; }
  // Files the method reads beyond the job's --data and --weights (its own sources): the run
  // directory may never hold one, so --overwrite can never remove them.
  virtual std::vector<std::string> inputs() const { return {}; }

  // Checks the options against the model the job will build (e.g. adapter targets it lacks),
  // before anything is written. Default: nothing to check.
  virtual void check_model(const models::ModelConfig& /*config*/) {}
  // Runs before attach(): searches, preliminary fine-tunes (angles). Default: nothing.
  virtual void prepare(PrepareContext&) {}
  // What prepare() found (searched ratios, chosen units, frozen counts, and its report), which
  // run_job writes to RUN/prepared.json as soon as prepare() ends. Null: nothing to keep.
  virtual nlohmann::json prepared_state() const { return nullptr; }
  // On --resume, instead of prepare() when prepared.json exists: take the findings back and
  // redo only cheap, deterministic set-up, never a search or a preliminary run.
  virtual void restore_prepared(const nlohmann::json& /*state*/, PrepareContext& context) { prepare(context); }
  // Receives the model built from the pretrained weights with a head sized for the task.
  virtual void attach(models::ModelPtr model) { model_ = std::move(model); }
  std::shared_ptr<torch::nn::Module> module() override { return model_; }
  torch::Tensor predict(const torch::Tensor& images) override { return model_->forward(images); }
  // The default step: the task loss on the model's logits.
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override {
    auto logits = model_->forward(images);
    return {task_loss(logits, labels), logits};
  }
  // The model's block-level units in order: embeddings/stem first, then each unit, the head last.
  std::vector<std::vector<torch::Tensor>> layers() override;
  // The method's own findings for summary.json's method_report.
  virtual nlohmann::json report() { return nlohmann::json::object(); }
  models::ModelPtr model() const { return model_; }

 protected:
  models::ModelPtr model_;
};

using MethodPtr = std::shared_ptr<Method>;

// Trainable parameters of a module in name order, excluding frozen ones (requires_grad false).
int64_t count_params(const torch::nn::Module& module, bool trainable_only);

}  // namespace aft::methods
