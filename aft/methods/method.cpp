#include "aft/methods/method.h"

#include <set>

namespace aft::methods {

int64_t count_params(const torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true)) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

std::vector<std::vector<torch::Tensor>> Method::layers() {
  if (!model_) return {};
  auto params = model_->named_parameters(true);
  std::set<std::string> in_unit;
  std::vector<std::vector<torch::Tensor>> units;
  for (const auto& unit : model_->units(models::UnitLevel::block)) {
    units.emplace_back();
    for (const auto& name : unit.params) {
      units.back().push_back(params[name]);
      in_unit.insert(name);
    }
  }
  // What lies in no unit: the head, and the stem or embeddings (below every unit).
  std::vector<torch::Tensor> stem, head;
  for (const auto& p : params) {
    if (in_unit.count(p.key())) continue;
    (models::is_head_param(*model_, p.key()) ? head : stem).push_back(p.value());
  }
  std::vector<std::vector<torch::Tensor>> out;
  out.push_back(stem);
  for (auto& u : units) out.push_back(std::move(u));
  out.push_back(head);
  return out;
}

}  // namespace aft::methods
