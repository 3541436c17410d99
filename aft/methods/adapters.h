// What lora and oft share: each replaces chosen weights W of the pretrained model by an adapted
// weight f(W) built from a few new parameters. W stays registered, frozen, under its own name, so
// checkpoints, `aft eval` and `aft predict` see the architecture's names unchanged; the new
// parameters live under "<method>.<layer path>.*" in the same model. Only they and the head
// train, and f(W) can be folded into W for `aft export --merge`.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "aft/methods/method.h"

namespace aft::methods {

// One weight an adapter may replace.
struct AdaptedWeight {
  std::string name;     // the parameter, e.g. "layer1.0.conv1.weight"
  std::string path;     // its layer, e.g. "layer1.0.conv1"; ViT's packed qkv: "...self_attention.in_proj"
  torch::Tensor base;   // the registered parameter (moved in place by .to(), filled by checkpoints)
  torch::Tensor* slot;  // the tensor the layer's forward() multiplies by
  std::shared_ptr<torch::nn::Module> adapter;  // this weight's new parameters (set by attach)
};

// Every weight of the trunk an adapter may replace (linears, convs, ViT's packed in-projection;
// never the head), in module order.
std::vector<AdaptedWeight> adaptable_weights(models::VisionModel& model);

// The weights `targets` selects. "auto": ViT, every attention and MLP projection of the encoder;
// ResNet, every conv of the residual stages (the 3-channel stem is left out). Otherwise
// comma-separated entries, each a unit name (its adaptable weights), a layer path or its last
// components ("out_proj", "mlp.0", "conv2"), or a regex matched against whole layer paths (as
// peft's target_modules). An entry that selects nothing is an error naming `flag`.
std::vector<AdaptedWeight> select_weights(models::VisionModel& model, const std::string& targets,
                                          const std::string& flag = "--targets");

class AdapterMethod : public Method {
 public:
  void attach(models::ModelPtr model) override;
  std::vector<ParamGroup> param_groups() override;
  torch::Tensor predict(const torch::Tensor& images) override;
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override;
  // The base is frozen, batch-norm statistics included.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override;
  // Each adapter belongs to the layer of the weight it adapts (for --layer-decay).
  std::vector<std::vector<torch::Tensor>> layers() override;
  nlohmann::json report() override;

  // Puts f(W) where each layer reads it; every forward through this method does it first, so
  // the adapted weight is always computed from the current parameters on the current device.
  void refresh();
  // Folds the adapters into the base weights (W <- f(W)) and resets them to the identity: the
  // logits do not change, and the architecture's own parameters alone are the adapted model.
  void merge();
  // The adapted weight f(W) of one target.
  virtual torch::Tensor adapted_weight(const AdaptedWeight& w) const = 0;
  // First component of the adapters' parameter names ("lora", "oft").
  virtual std::string adapter_prefix() const = 0;
  // Throws as attach() would on a model of this config (a target it lacks, --blocks that do not
  // divide), on a throwaway model, so a job can refuse before its run directory exists.
  void check_targets(const models::ModelConfig& config);
  void check_model(const models::ModelConfig& config) override { check_targets(config); }
  const std::vector<AdaptedWeight>& adapted() const { return adapted_; }
  int64_t adapter_params() const;

 protected:
  virtual std::string targets() const = 0;
  // Creates the adapter of one weight (its parameters registered on the module it returns).
  virtual std::shared_ptr<torch::nn::Module> make_adapter(const AdaptedWeight& w) = 0;
  // Sets an adapter's parameters so that f(W) == W.
  virtual void reset_to_identity(torch::nn::Module& adapter) = 0;

  std::vector<AdaptedWeight> adapted_;
};

}  // namespace aft::methods
