// Decisions beyond the paper: the probe's features come from the eval transform (cached once;
// augmentation would need the backbone every epoch, which is what the cache saves), and the
// probe's momentum, weight decay and label smoothing are the run's. The fine-tuning stage is
// plain full fine-tuning through the Trainer, with the run's recipe.
#include "aft/methods/lp_ft.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/methods/feature_cache.h"
#include "aft/train/trainer.h"

namespace aft::methods {

void LpFtOptions::visit(OptionVisitor& v) {
  v.field("probe-epochs", "linear-probe epochs on the cached features, before fine-tuning", probe_epochs);
  v.field("probe-lr", "SGD learning rate of the linear probe (momentum and weight decay: the run's)", probe_lr);
}

void LpFtOptions::validate() const {
  check(probe_epochs >= 1, "--probe-epochs ", probe_epochs, ": must be >= 1");
  check(std::isfinite(probe_lr) && probe_lr > 0, "--probe-lr ", probe_lr, ": must be > 0");
}

ProbeResult train_probe(const torch::Tensor& features, const torch::Tensor& labels, torch::Tensor weight,
                        torch::Tensor bias, int64_t epochs, int64_t batch_size, double lr, double momentum,
                        double weight_decay, double label_smoothing, uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  weight = weight.detach().clone().set_requires_grad(true);
  bias = bias.detach().clone().set_requires_grad(true);
  torch::optim::SGD sgd({weight, bias}, torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(weight_decay));
  const int64_t n = features.size(0);
  const auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    torch::manual_seed(seed + static_cast<uint64_t>(epoch));
    const auto order = torch::randperm(n, torch::kInt64);
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto rows = order.slice(0, begin, std::min(n, begin + batch_size));
      sgd.zero_grad();
      const auto logits = torch::nn::functional::linear(features.index_select(0, rows), weight, bias);
      torch::nn::functional::cross_entropy(logits, labels.index_select(0, rows), options).backward();
      sgd.step();
    }
  }
  return {weight.detach(), bias.detach(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

namespace {

class LpFtMethod : public Method {
 public:
  explicit LpFtMethod(LpFtOptions options) : options_(options) {}
  std::string name() const override { return "lp-ft"; }

  // The probe: features of every training image once, then SGD on the head alone.
  void prepare(PrepareContext& context) override {
    check(context.data && context.train_options && context.fresh_model, "lp-ft: no task to probe on");
    const auto& run = *context.train_options;
    const auto start = std::chrono::steady_clock::now();
    auto model = context.fresh_model();  // the pretrained backbone and the run's new head
    const auto device = parse_device(run.device);
    // A race's probes share one cache (each image's features computed once); alone, a probe
    // fills its own.
    const auto cache = context.features ? context.features : std::make_shared<FeatureCache>();
    const auto& splits = context.data->splits;
    const auto x = cache->features(*model, *context.data, splits.train_indices, run.batch_size,
                                   static_cast<int>(run.workers), device);
    std::vector<int64_t> labels;
    for (size_t i : splits.train_indices) labels.push_back(splits.train->label(i));
    const auto y = torch::tensor(labels, torch::kInt64);
    const double feature_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    model->to(torch::kCPU);
    auto params = model->named_parameters();
    const std::string head = model->head_prefix();
    const auto probe = train_probe(x, y, params[head + ".weight"], params[head + ".bias"], options_.probe_epochs,
                                   run.batch_size, options_.probe_lr, run.momentum, run.weight_decay,
                                   run.label_smoothing, static_cast<uint64_t>(run.seed));
    head_weight_ = probe.weight;
    head_bias_ = probe.bias;
    torch::NoGradGuard no_grad;
    const double accuracy =
        torch::nn::functional::linear(x, head_weight_, head_bias_).argmax(1).eq(y).to(torch::kFloat64).mean().item<double>();
    report_ = {{"probe_epochs", options_.probe_epochs},
               {"probe_lr", options_.probe_lr},
               {"probe_train_images", x.size(0)},
               {"feature_dim", x.size(1)},
               {"feature_seconds", feature_seconds},
               {"probe_seconds", probe.seconds},
               {"probe_train_accuracy", accuracy}};
    if (!context.quiet) {
      log::info("lp-ft: linear probe on " + std::to_string(x.size(0)) + " cached features, train accuracy " +
                std::to_string(accuracy) + "; fine-tuning from its head");
    }
  }

  nlohmann::json prepared_state() const override {
    return {{"weight", tensor_json(head_weight_)}, {"bias", tensor_json(head_bias_)}, {"report", report_}};
  }

  void restore_prepared(const nlohmann::json& state, PrepareContext&) override {
    head_weight_ = from_json(state.at("weight"));
    head_bias_ = from_json(state.at("bias"));
    report_ = state.at("report");
  }

  // The fine-tuning stage starts from the probe's head.
  void attach(models::ModelPtr model) override {
    Method::attach(std::move(model));
    if (!head_weight_.defined()) return;  // a reopened run: its weights are loaded afterwards
    auto params = model_->named_parameters();
    const std::string head = model_->head_prefix();
    torch::NoGradGuard no_grad;
    params[head + ".weight"].copy_(head_weight_);
    params[head + ".bias"].copy_(head_bias_);
  }

  std::vector<ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, -1.0}}; }
  nlohmann::json report() override { return report_; }

 private:
  static nlohmann::json tensor_json(const torch::Tensor& t) {
    const auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
    return {{"shape", c.sizes().vec()}, {"values", std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel())}};
  }
  static torch::Tensor from_json(const nlohmann::json& j) {
    const auto values = j.at("values").get<std::vector<double>>();
    const auto shape = j.at("shape").get<std::vector<int64_t>>();
    return torch::tensor(values, torch::kFloat64).reshape(shape).to(torch::kFloat32);
  }

  LpFtOptions options_;
  torch::Tensor head_weight_, head_bias_;
  nlohmann::json report_ = nlohmann::json::object();
};

}  // namespace

MethodInfo lp_ft_method() {
  MethodInfo info{"lp-ft", "linear probe on cached features, then full fine-tuning from the probe's head (LP-FT)",
                  [] { return std::make_unique<LpFtOptions>(); },
                  [](const Options& o) { return std::make_shared<LpFtMethod>(dynamic_cast<const LpFtOptions&>(o)); },
                  [](Options& o) { dynamic_cast<LpFtOptions&>(o).probe_epochs = 10; }};
  info.cost_guess = 1.05;  // full fine-tuning plus the probe's one pass of feature extraction
  return info;
}

}  // namespace aft::methods
