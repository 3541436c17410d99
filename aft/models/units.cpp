#include "aft/models/units.h"

#include <map>
#include <sstream>

#include "aft/core/error.h"

namespace aft::models {

std::vector<std::string> params_with_prefix(const torch::nn::Module& module, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& item : module.named_parameters(true)) {
    const std::string& key = item.key();
    if (key == prefix || key.rfind(prefix + ".", 0) == 0) names.push_back(key);
  }
  return names;
}

void assign_shape_groups(std::vector<TunableUnit>& units, const torch::nn::Module& module) {
  const auto params = module.named_parameters(true);
  std::map<std::string, std::string> group_of_signature;
  for (auto& unit : units) {
    std::ostringstream signature;
    for (const auto& name : unit.params) {
      const torch::Tensor* p = params.find(name);
      check(p != nullptr, "unit ", unit.name, " names unknown parameter ", name);
      // Relative names are part of the signature: the same shapes in different roles
      // (a norm weight vs a bias) are not interchangeable.
      signature << name.substr(name.rfind('.') + 1) << p->sizes() << ';';
    }
    auto [it, inserted] = group_of_signature.emplace(signature.str(), unit.name);
    unit.group = it->second;
  }
}

}  // namespace aft::models
