// SpotTune (Guo et al. 2019; docs/spottune.md): per image and residual block, a policy
// network picks the frozen pretrained copy or a fine-tuned copy of the block; optional
// Global-k pull on the number of tuned blocks; routing statistics for the report.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "aft/methods/method.h"
#include "aft/methods/registry.h"
#include "aft/methods/spottune_net.h"

namespace aft::methods {

struct SpotTuneOptions : Options {
  double policy_lr = 0.01;          // absolute: the policy group's own base rate (ParamGroup::lr)
  double policy_wd = 1e-3;
  double temperature = 5.0;         // Gumbel-Softmax T: scales the policy's gradients only
  std::string frozen_bn = "train";  // train: the reference (BN affine trains, statistics update); freeze: nothing
  std::string route = "argmax";     // test-time decisions: argmax of the logits | Gumbel sample
  double global_k = -1;             // < 0: off; else the number of blocks tuned for every image
  double global_k_weight = 0.1;     // lambda_k of lambda_k * (sum_b v_b - K)^2
  double global_k_entropy_weight = 0.1;  // lambda_e of lambda_e * sum_b H(v_b)
  double policy_width = 1;          // policy channels multiplier: 1 = the reference's 32-64-128-256
  void visit(OptionVisitor& v) override {
    v.field("policy-lr", "policy network learning rate (absolute; scheduled like --lr)", policy_lr);
    v.field("policy-wd", "policy network weight decay", policy_wd);
    v.field("temperature", "Gumbel-Softmax temperature (scales the policy gradient only)", temperature);
    v.field("frozen-bn", "frozen copies: freeze (eval-mode BN, no training) | train (reference: BN affine "
            "params train, statistics update)", frozen_bn);
    v.field("route", "test-time routing: argmax (deterministic) | sample (Gumbel noise, as the reference)", route);
    v.field("global-k",
            "Global-k, the paper's compact global policy: K blocks tuned for every image, chosen by the policy "
            "during training (< 0: off, per-image routing)",
            global_k);
    v.field("global-k-weight", "Global-k: weight of (sum_b v_b - K)^2, v_b = the batch's tuned fraction of block b",
            global_k_weight);
    v.field("global-k-entropy-weight", "Global-k: weight of sum_b H(v_b), which pushes each v_b to 0 or 1",
            global_k_entropy_weight);
    v.field("policy-width", "policy network width multiplier (1: the reference's 32-64-128-256, whatever --width)",
            policy_width);
  }
  void validate() const override;
};

class SpotTuneMethod : public Method {
 public:
  explicit SpotTuneMethod(SpotTuneOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "spottune"; }
  void attach(models::ModelPtr model) override;
  std::shared_ptr<torch::nn::Module> module() override { return net_; }
  std::vector<ParamGroup> param_groups() override;
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override;
  torch::Tensor predict(const torch::Tensor& images) override;
  // Both copies of every block on every image, mixed by the inference decisions: each copy's
  // batch norms see what training shows them, on the inputs inference gives each block.
  torch::Tensor statistics_forward(const torch::Tensor& images) override;
  // --frozen-bn freeze: the frozen copies' batch norms keep their pretrained statistics.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override;
  void on_epoch_start(train::Trainer& trainer, int64_t epoch) override;
  void on_evaluate_start(const std::string& split) override;
  // predict() plus the test pass's routing statistics, per block, per count and per class.
  torch::Tensor evaluate_batch(const torch::Tensor& images, const torch::Tensor& labels) override;
  nlohmann::json report() override;

  SpotTuneNet& net() { return *net_; }
  // Test-time decisions [N, B] (0/1 floats) under --route.
  torch::Tensor route(const torch::Tensor& images);
  // What inference uses: route(), or Global-k's one route for every image.
  torch::Tensor decisions(const torch::Tensor& images);
  // Training-time decisions: hard Gumbel samples carrying the straight-through gradient.
  torch::Tensor sample_actions(const torch::Tensor& images);
  // Global-k on a batch's decisions [N, B]: with v_b = mean_n a_{n,b},
  // lambda_k * (sum_b v_b - K)^2 + lambda_e * sum_b H(v_b); zero when Global-k is off.
  torch::Tensor global_k_loss(const torch::Tensor& actions) const;
  // Global-k: the blocks tuned for every image (1) or none (0), [B]; v_b > 0.5 over the last
  // training epoch's images. Saved with the model (buffer "global_route").
  torch::Tensor global_route() const { return global_route_; }
  // Times two-path and split inference on `images` (argmax routing), for the report.
  nlohmann::json time_inference(const torch::Tensor& images, int repeats);

 private:
  SpotTuneOptions options_;
  std::shared_ptr<SpotTuneNet> net_;
  bool counting_ = false;              // accumulate routing statistics in evaluate_batch()
  torch::Tensor tuned_per_block_;      // [B] images routed to T_b
  torch::Tensor tuned_count_histogram_;  // [B + 1] images by their number of tuned blocks
  int64_t images_seen_ = 0;
  torch::Tensor tuned_by_class_;       // [C, B] per class: images routed to T_b
  torch::Tensor images_by_class_;      // [C]
  torch::Tensor timing_batch_;         // first test batch, for the inference timing
  torch::Tensor global_route_;         // Global-k: [B] fixed decisions (a buffer of net_)
  torch::Tensor epoch_tuned_;          // Global-k: [B] this epoch's training decisions, summed
  int64_t epoch_images_ = 0;
  bool route_fresh_ = false;           // global_route_ already reflects the last epoch (or was restored)
};

MethodInfo spottune_method();

}  // namespace aft::methods
