// The adapted weight is computed once per forward and put where the layer reads it, instead of
// running a side path beside each layer: the models stay unaware of adapters, and for LoRA the
// product W x + s B (A x) equals (W + s B A) x, so the maths is the paper's.
#include "aft/methods/adapters.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/torch.h>

#include <regex>
#include <set>
#include <sstream>

#include "aft/core/error.h"
#include "aft/models/vit.h"

namespace aft::methods {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Does one --targets entry select this weight?
bool entry_selects(const std::string& entry, const AdaptedWeight& w, const std::vector<models::TunableUnit>& units,
                   const std::string& flag) {
  // Any reading selects: "conv1" is ResNet's stem unit and the last component of every block's
  // first conv, and takes them all, as peft's target_modules would.
  for (const auto& unit : units) {
    if (unit.name == entry && std::find(unit.params.begin(), unit.params.end(), w.name) != unit.params.end()) {
      return true;
    }
  }
  if (w.path == entry || ends_with(w.path, "." + entry)) return true;
  try {
    return std::regex_match(w.path, std::regex(entry));
  } catch (const std::regex_error& e) {
    fail(flag, " ", entry, ": not a unit, a layer or a valid regex (", e.what(), ")");
  }
}

}  // namespace

std::vector<AdaptedWeight> adaptable_weights(models::VisionModel& model) {
  std::vector<AdaptedWeight> out;
  for (const auto& item : model.named_modules("", false)) {
    const std::string& path = item.key();
    torch::nn::Module* m = item.value().get();
    AdaptedWeight w{path + ".weight", path, {}, nullptr, nullptr};
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(m)) {
      w.slot = &linear->weight;
    } else if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m)) {
      w.slot = &conv->weight;
    } else if (auto* attention = dynamic_cast<models::SelfAttention*>(m)) {
      w = {path + ".in_proj_weight", path + ".in_proj", {}, &attention->in_proj_weight(), nullptr};
    } else {
      continue;
    }
    if (models::is_head_param(model, w.name)) continue;
    const auto own = m->named_parameters(false);
    const auto* param = own.find(w.name.substr(path.size() + 1));
    check(param != nullptr, "adapters: layer ", path, " has no parameter ", w.name);
    w.base = *param;
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<AdaptedWeight> select_weights(models::VisionModel& model, const std::string& targets,
                                          const std::string& flag) {
  auto all = adaptable_weights(model);
  std::vector<AdaptedWeight> out;
  if (targets == "auto") {
    const std::regex pattern(model.adapter_pattern());
    for (auto& w : all) {
      if (std::regex_match(w.path, pattern)) out.push_back(w);
    }
    check(!out.empty(), flag, " auto: ", model.config().arch, " has no layer to adapt");
    return out;
  }
  auto units = model.units(models::UnitLevel::layer);
  for (auto& u : model.units(models::UnitLevel::block)) units.push_back(std::move(u));
  const auto entries = split_commas(targets);
  check(!entries.empty(), flag, " is empty; give unit names, layer names or a regex (or auto)");
  std::vector<bool> taken(all.size(), false);
  for (const auto& entry : entries) {
    bool any = false;
    for (size_t i = 0; i < all.size(); ++i) {
      if (!entry_selects(entry, all[i], units, flag)) continue;
      any = true;
      taken[i] = true;
    }
    check(any, flag, " ", entry, ": selects no adaptable layer of ", model.config().arch, " (layers are named like ",
          all.empty() ? std::string("-") : all[all.size() / 2].path, ", units like ",
          units.empty() ? std::string("-") : units[units.size() / 2].name, ")");
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (taken[i]) out.push_back(all[i]);
  }
  return out;
}

void AdapterMethod::attach(models::ModelPtr model) {
  Method::attach(std::move(model));
  adapted_ = select_weights(*model_, targets());
  // The adapters mirror their layers' paths under one root, since parameter names hold no dots.
  auto root = model_->register_module(adapter_prefix(), std::make_shared<torch::nn::Module>());
  for (auto& w : adapted_) {
    std::shared_ptr<torch::nn::Module> node = root;
    std::string rest = w.path;
    for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1)) {
      const std::string part = rest.substr(0, dot);
      const auto children = node->named_children();
      const auto* child = children.find(part);
      node = child ? *child : node->register_module(part, std::make_shared<torch::nn::Module>());
    }
    w.adapter = node->register_module(rest, make_adapter(w));
  }
}

void AdapterMethod::check_targets(const models::ModelConfig& config) {
  auto probe = models::build_model(config);
  for (const auto& w : select_weights(*probe, targets())) make_adapter(w);
}

std::vector<ParamGroup> AdapterMethod::param_groups() {
  std::vector<torch::Tensor> adapters, head;
  for (const auto& w : adapted_) {
    for (const auto& p : w.adapter->parameters()) adapters.push_back(p);
  }
  for (const auto& p : model_->named_parameters()) {
    if (models::is_head_param(*model_, p.key())) head.push_back(p.value());
  }
  return {{"adapters", adapters, 1.0, -1.0}, {"head", head, 1.0, -1.0}};
}

void AdapterMethod::refresh() {
  for (auto& w : adapted_) *w.slot = adapted_weight(w);
}

torch::Tensor AdapterMethod::predict(const torch::Tensor& images) {
  refresh();
  return model_->forward(images);
}

StepOutput AdapterMethod::train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) {
  refresh();
  auto logits = model_->forward(images);
  return {task_loss(logits, labels), logits};
}

std::vector<std::shared_ptr<torch::nn::Module>> AdapterMethod::eval_modules() {
  std::vector<std::shared_ptr<torch::nn::Module>> out;
  for (const auto& m : model_->modules()) {
    if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) out.push_back(m);
  }
  return out;
}

std::vector<std::vector<torch::Tensor>> AdapterMethod::layers() {
  auto out = Method::layers();
  std::set<const void*> adapter_params;
  for (const auto& w : adapted_) {
    for (const auto& p : w.adapter->parameters()) adapter_params.insert(p.unsafeGetTensorImpl());
  }
  for (auto& layer : out) {
    layer.erase(std::remove_if(layer.begin(), layer.end(),
                               [&](const torch::Tensor& t) { return adapter_params.count(t.unsafeGetTensorImpl()) > 0; }),
                layer.end());
  }
  for (const auto& w : adapted_) {
    size_t home = 0;  // a weight in no unit (the stem) sits with the stem
    for (size_t i = 0; i < out.size(); ++i) {
      for (const auto& t : out[i]) {
        if (t.unsafeGetTensorImpl() == w.base.unsafeGetTensorImpl()) home = i;
      }
    }
    for (const auto& p : w.adapter->parameters()) out[home].push_back(p);
  }
  return out;
}

void AdapterMethod::merge() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> merged;
  for (const auto& w : adapted_) merged.push_back(adapted_weight(w));
  for (size_t i = 0; i < adapted_.size(); ++i) {
    adapted_[i].base.copy_(merged[i]);
    reset_to_identity(*adapted_[i].adapter);
  }
  refresh();
}

int64_t AdapterMethod::adapter_params() const {
  int64_t n = 0;
  for (const auto& w : adapted_) {
    for (const auto& p : w.adapter->parameters()) n += p.numel();
  }
  return n;
}

nlohmann::json AdapterMethod::report() {
  std::vector<std::string> layers;
  for (const auto& w : adapted_) layers.push_back(w.path);
  return {{"targets", targets()},
          {"adapted_layers", layers},
          {"adapter_params", adapter_params()},
          {"base_params_adapted", [&] {
             int64_t n = 0;
             for (const auto& w : adapted_) n += w.base.numel();
             return n;
           }()}};
}

}  // namespace aft::methods
