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

namespace aft::dist {
class Group;
}

namespace aft::train {
class Trainer;
struct TrainData;
struct TrainOptions;
}

namespace aft::methods {

struct ParamGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  double lr_scale = 1.0;         // multiplies the scheduled learning rate
  double weight_decay = -1.0;    // < 0: the run's --weight-decay
};

struct StepOutput {
  torch::Tensor loss;    // scalar to backpropagate
  torch::Tensor logits;  // for accuracy
};

using LossFn = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& labels)>;

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
};

// What a method that assembles its own network (several sources) needs to build it.
struct OwnModelSpec {
  int64_t num_classes = 0;
  int64_t image_size = 0;
  bool pretrained = true;  // false: reopening a finished run, whose weights are loaded after
  uint64_t seed = 0;       // new heads are drawn from this seed
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;

  // Methods that build their network from their own options (the multi-source ensemble)
  // return true: run_job then takes no --weights, passes no fresh_model to prepare(), and calls
  // build_own_model() instead of attach().
  virtual bool builds_own_model() const { return false; }
  virtual void build_own_model(const OwnModelSpec&) {}
  // Metadata for model.safetensors when the method built its own model.
  virtual std::map<std::string, std::string> own_model_metadata() const { return {}; }

  // Runs before attach(): searches, preliminary fine-tunes (angles). Default: nothing.
  virtual void prepare(PrepareContext&) {}
  // Receives the model built from the pretrained weights with a head sized for the task.
  virtual void attach(models::ModelPtr model) { model_ = std::move(model); }
  // The module the Trainer moves, saves and switches between train and eval.
  virtual std::shared_ptr<torch::nn::Module> module() { return model_; }
  // What the optimizer trains; everything not listed gets requires_grad(false).
  virtual std::vector<ParamGroup> param_groups() = 0;
  // Logits for evaluation and prediction.
  virtual torch::Tensor predict(const torch::Tensor& images) { return model_->forward(images); }
  // Loss of one training step; the default is the task loss on the model's logits.
  virtual StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) {
    auto logits = model_->forward(images);
    return {task_loss(logits, labels), logits};
  }
  // Switches train/eval; methods with frozen parts keep those in eval mode where they must.
  virtual void set_training(bool training) { module()->train(training); }
  virtual void on_train_start(train::Trainer&) {}
  virtual void on_epoch_start(train::Trainer&, int64_t /*epoch*/) {}
  // Before each evaluation pass; split is "val", "test" or "" (other callers).
  virtual void on_evaluate_start(const std::string& /*split*/) {}
  // After predict() on each evaluation batch, with that batch's labels (per-member statistics).
  virtual void on_evaluate_batch(const torch::Tensor& /*labels*/) {}
  virtual void after_backward() {}
  virtual void after_step() {}
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
