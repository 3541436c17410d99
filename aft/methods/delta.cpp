// Decisions beyond the paper: the penalty is the paper's per-image regulariser averaged over
// the batch (TLlib's example sums it over the batch, so its weight there grows with the batch
// size); a channel's squared distance is divided by its number of positions and weighted by
// channels x attention (mean 1), as TLlib's attention variant; `--attention off` weighs every
// channel 1 with the same normalisation, so the two settings share one scale of --alpha
// (TLlib's plain "feature map" variant has no division by positions). Like L2-SP, the head L2
// replaces weight decay. The frozen source is the job's own fresh pretrained model.
#include "aft/methods/delta.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "aft/core/error.h"
#include "aft/methods/delta_attention.h"

namespace aft::methods {

void DeltaOptions::visit(OptionVisitor& v) {
  v.field("alpha", "weight of the feature-map pull towards the pretrained model (per image, batch mean)", alpha);
  v.field("beta", "weight of ||w_head||^2 / 2 on the new head", beta);
  v.field("attention", "on: weigh channels by the loss rise when each is zeroed | off: every channel weighs 1",
          attention);
  v.field("layers", "pulled layers: stages (each stage's last block) | blocks | block names, comma-separated",
          layers);
  v.field("attention-epochs", "epochs of the linear probe on cached features that judges the channels",
          attention_epochs);
  v.field("attention-lr", "SGD learning rate of that probe (momentum and weight decay: the run's)", attention_lr);
  v.field("attention-batches", "training batches the channels' loss rises are averaged over", attention_batches);
}

void DeltaOptions::validate() const {
  check(std::isfinite(alpha) && alpha >= 0, "--alpha ", alpha, ": must be >= 0");
  check(std::isfinite(beta) && beta >= 0, "--beta ", beta, ": must be >= 0");
  check_choice("--attention", attention, {"on", "off"});
  check(!layers.empty(), "--layers: empty; expected stages, blocks or block names");
  check(attention_epochs >= 1, "--attention-epochs ", attention_epochs, ": must be >= 1");
  check(std::isfinite(attention_lr) && attention_lr > 0, "--attention-lr ", attention_lr, ": must be > 0");
  check(attention_batches >= 1, "--attention-batches ", attention_batches, ": must be >= 1");
}

std::vector<PulledLayer> pulled_layers(const models::VisionModel& model, const std::string& spec) {
  // Blocks in order, each with its stage and the trunk piece that computes it.
  struct Block {
    std::string name, stage;
    int64_t piece;
  };
  std::vector<Block> blocks;
  for (const auto& unit : model.units(models::UnitLevel::block)) {
    if (!blocks.empty() && blocks.back().name == unit.block) continue;
    if (unit.params.empty()) continue;
    int64_t piece = -1;
    for (int64_t p = 1; p < model.piece_count() && piece < 0; ++p) {
      if (model.in_piece(unit.params.front(), p)) piece = p;
    }
    if (piece < 0 || (!blocks.empty() && blocks.back().piece == piece)) continue;
    blocks.push_back({unit.block, unit.stage, piece});
  }
  check(!blocks.empty(), model.config().arch, ": no blocks to pull");
  std::vector<PulledLayer> out;
  if (spec == "blocks") {
    for (const auto& b : blocks) out.push_back({b.name, b.piece});
  } else if (spec == "stages") {
    std::set<std::string> stages;
    for (const auto& b : blocks) stages.insert(b.stage);
    if (stages.size() > 1) {
      for (size_t i = 0; i < blocks.size(); ++i) {
        if (i + 1 == blocks.size() || blocks[i + 1].stage != blocks[i].stage) out.push_back({blocks[i].name, blocks[i].piece});
      }
    } else {
      const size_t n = blocks.size();
      for (size_t q = 1; q <= 4; ++q) {
        const size_t i = std::max<size_t>(1, (n * q + 3) / 4) - 1;  // ceil(n q / 4) - 1
        if (out.empty() || out.back().piece != blocks[i].piece) out.push_back({blocks[i].name, blocks[i].piece});
      }
    }
  } else {
    std::stringstream names(spec);
    std::string name;
    while (std::getline(names, name, ',')) {
      const auto it = std::find_if(blocks.begin(), blocks.end(), [&](const Block& b) { return b.name == name; });
      if (it == blocks.end()) {
        std::string valid;
        for (const auto& b : blocks) valid += (valid.empty() ? "" : ",") + b.name;
        fail("--layers ", spec, ": ", model.config().arch, " has no block '", name,
             "'; expected stages, blocks or names among ", valid);
      }
      out.push_back({it->name, it->piece});
    }
    std::sort(out.begin(), out.end(), [](const PulledLayer& a, const PulledLayer& b) { return a.piece < b.piece; });
    out.erase(std::unique(out.begin(), out.end(), [](const PulledLayer& a, const PulledLayer& b) { return a.piece == b.piece; }),
              out.end());
  }
  return out;
}

torch::Tensor forward_with_maps(models::VisionModel& model, const torch::Tensor& images,
                                const std::vector<PulledLayer>& layers, std::vector<torch::Tensor>& maps, bool logits) {
  maps.clear();
  auto x = images;
  int64_t done = 0;
  for (const auto& layer : layers) {
    x = model.run_pieces(x, done, layer.piece + 1);
    done = layer.piece + 1;
    maps.push_back(x);
  }
  if (!logits) return {};
  return model.head(model.trunk_end(model.run_pieces(x, done, model.piece_count())));
}

int64_t channel_dim(const torch::Tensor& map) {
  check(map.dim() == 3 || map.dim() == 4, "delta: a feature map must be [N, C, H, W] or [N, T, D], got ", map.sizes());
  return map.dim() == 4 ? 1 : 2;
}

torch::Tensor feature_map_penalty(const std::vector<torch::Tensor>& target, const std::vector<torch::Tensor>& source,
                                  const std::vector<torch::Tensor>& weights) {
  check(target.size() == source.size() && target.size() == weights.size(), "delta: ", target.size(), " target maps, ",
        source.size(), " source maps, ", weights.size(), " channel weights");
  check(!target.empty(), "delta: no feature maps to pull");
  torch::Tensor total;
  for (size_t l = 0; l < target.size(); ++l) {
    const int64_t dim = channel_dim(target[l]);
    const int64_t n = target[l].size(0), channels = target[l].size(dim);
    const int64_t positions = target[l].numel() / (n * channels);
    // [N, C]: each channel's squared distance over its positions.
    std::vector<int64_t> over;
    for (int64_t d = 1; d < target[l].dim(); ++d) {
      if (d != dim) over.push_back(d);
    }
    auto diff = target[l] - source[l].detach();
    // Mixed precision: a sum of squares over thousands of positions can overflow half.
    if (diff.scalar_type() == torch::kHalf || diff.scalar_type() == torch::kBFloat16) diff = diff.to(torch::kFloat32);
    const auto distance = diff.pow(2).sum(over);
    const auto weighted = weights[l].defined() ? distance * weights[l].to(distance.options()) : distance;
    const auto term = 0.5 * weighted.sum() / static_cast<double>(n * positions);
    total = total.defined() ? total + term : term;
  }
  return total;
}

namespace {

class DeltaMethod : public Method {
 public:
  explicit DeltaMethod(DeltaOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "delta"; }

  void prepare(PrepareContext& context) override {
    check(static_cast<bool>(context.fresh_model), "delta: no pretrained model to pull towards");
    source_ = context.fresh_model();
    layers_ = pulled_layers(*source_, options_.layers);
    weights_.assign(layers_.size(), torch::Tensor());
    if (options_.attention == "on") {
      auto measured = measure_attention(*source_, context, layers_, options_.attention_epochs, options_.attention_lr,
                                        options_.attention_batches);
      rise_ = measured.rise;
      attention_ = measured.attention;
      attention_report_ = measured.report;
      set_weights();
    }
    freeze_source();
  }

  nlohmann::json prepared_state() const override {
    if (attention_.empty()) return nullptr;  // nothing measured: a resumed run redoes the cheap set-up
    nlohmann::json layers = nlohmann::json::array(), attention = nlohmann::json::array(), rise = nlohmann::json::array();
    for (size_t l = 0; l < layers_.size(); ++l) {
      layers.push_back(layers_[l].name);
      attention.push_back(values(attention_[l]));
      rise.push_back(values(rise_[l]));
    }
    return {{"layers", layers}, {"attention", attention}, {"rise", rise}, {"report", attention_report_}};
  }

  // The attention comes back from prepared.json; only the frozen source is rebuilt.
  void restore_prepared(const nlohmann::json& state, PrepareContext& context) override {
    check(static_cast<bool>(context.fresh_model), "delta: no pretrained model to pull towards");
    source_ = context.fresh_model();
    layers_ = pulled_layers(*source_, options_.layers);
    const auto names = state.at("layers").get<std::vector<std::string>>();
    check(names.size() == layers_.size(), "prepared.json: delta attention for ", names.size(), " layers, --layers ",
          options_.layers, " pulls ", layers_.size());
    attention_.clear();
    rise_.clear();
    for (size_t l = 0; l < layers_.size(); ++l) {
      check(names[l] == layers_[l].name, "prepared.json: delta attention for layer ", names[l], ", expected ",
            layers_[l].name);
      attention_.push_back(torch::tensor(state.at("attention")[l].get<std::vector<double>>(), torch::kFloat64).to(torch::kFloat32));
      rise_.push_back(torch::tensor(state.at("rise")[l].get<std::vector<double>>(), torch::kFloat64));
    }
    attention_report_ = state.at("report");
    set_weights();
    freeze_source();
  }

  void attach(models::ModelPtr model) override {
    Method::attach(std::move(model));
    head_.clear();
    for (auto& p : model_->named_parameters()) {
      if (models::is_head_param(*model_, p.key())) head_.push_back(p.value());
    }
  }

  // The head L2 replaces weight decay, as in L2-SP.
  std::vector<ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, 0.0}}; }

  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override {
    auto head_l2 = torch::zeros({}, images.options());
    for (const auto& w : head_) head_l2 = head_l2 + 0.5 * options_.beta * w.pow(2).sum();
    // alpha 0 (or a reopened run, which never trains): plain fine-tuning with the head L2.
    if (options_.alpha == 0 || !source_) {
      auto logits = model_->forward(images);
      return {task_loss(logits, labels) + head_l2, logits};
    }
    std::vector<torch::Tensor> target, source;
    auto logits = forward_with_maps(*model_, images, layers_, target);
    {
      torch::NoGradGuard no_grad;
      if (source_->parameters().front().device() != images.device()) source_->to(images.device());
      // The channel weights move with it, once (feature_map_penalty would copy each per step).
      for (auto& w : weights_) {
        if (w.defined() && w.device() != images.device()) w = w.to(images.device());
      }
      forward_with_maps(*source_, images, layers_, source, /*logits=*/false);
    }
    auto loss = task_loss(logits, labels) + options_.alpha * feature_map_penalty(target, source, weights_) + head_l2;
    return {loss, logits};
  }

  nlohmann::json report() override {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : layers_) layers.push_back(l.name);
    nlohmann::json r = {{"layers", layers}, {"attention", options_.attention}};
    if (!attention_report_.is_null()) r["attention_measurement"] = attention_report_;
    return r;
  }

 private:
  static std::vector<double> values(const torch::Tensor& t) {
    const auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  // channels x attention: mean 1, so `on` and `off` share one scale of --alpha.
  void set_weights() {
    weights_.clear();
    for (const auto& a : attention_) weights_.push_back(a * static_cast<double>(a.numel()));
  }
  void freeze_source() {
    source_->eval();  // never trained: its batch norms keep the pretrained statistics
    for (auto& p : source_->parameters()) p.set_requires_grad(false);
  }

  DeltaOptions options_;
  models::ModelPtr source_;
  std::vector<PulledLayer> layers_;
  std::vector<torch::Tensor> rise_, attention_, weights_;  // weights_ undefined: every channel 1
  nlohmann::json attention_report_;
  std::vector<torch::Tensor> head_;
};

}  // namespace

MethodInfo delta_method() {
  MethodInfo info{"delta", "full fine-tuning with an attention-weighted pull on feature maps (DELTA)",
                  [] { return std::make_unique<DeltaOptions>(); },
                  [](const Options& o) { return std::make_shared<DeltaMethod>(dynamic_cast<const DeltaOptions&>(o)); }};
  info.demo_budget = [](Options& o) {
    auto& d = dynamic_cast<DeltaOptions&>(o);
    d.attention_epochs = 5;
    d.attention_batches = 2;
  };
  return info;
}

}  // namespace aft::methods
