// Shared by the lora and oft tests: tiny models, a method made through the registry (as the
// CLI makes it), adapters moved away from their identity start, and a PyTorch runner.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "aft/core/options.h"
#include "aft/methods/adapters.h"
#include "aft/methods/registry.h"
#include "aft/models/weights.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace aft::testing {

// vit_ti_4 on 16 x 16 images: ViT-Tiny's real width (192) and depth (12), so parameter
// fractions mean what they mean at full size; only the token count is small.
inline models::ModelPtr tiny_vit(int64_t classes = 3, uint64_t seed = 0) {
  torch::manual_seed(seed);
  models::ModelConfig c;
  c.arch = "vit_ti_4";
  c.num_classes = classes;
  c.image_size = 16;
  return models::build_model(c);
}

inline std::shared_ptr<methods::AdapterMethod> make_adapter_method(const std::string& name,
                                                                   const nlohmann::json& options = nlohmann::json::object()) {
  const auto& info = methods::find_method(name);
  auto o = info.make_options();
  options_from_json(*o, options, true, "test");
  o->validate();
  auto method = std::dynamic_pointer_cast<methods::AdapterMethod>(info.create(*o));
  EXPECT_TRUE(method) << name << " is not an adapter method";
  return method;
}

// Random adapters (B non-zero, Q non-zero) and a random head, so that every comparison
// exercises them; the zero start would make them trivially agree.
inline void perturb_adapters(methods::AdapterMethod& method, double scale = 0.05) {
  torch::NoGradGuard no_grad;
  for (const auto& w : method.adapted()) {
    for (auto& p : w.adapter->parameters()) p.normal_(0.0, scale);
  }
  for (auto& p : method.model()->named_parameters()) {
    if (models::is_head_param(*method.model(), p.key())) p.value().normal_(0.0, 0.1);
  }
}

// The model's state without the adapters: what `aft export --merge` writes.
inline models::TensorMap plain_state(methods::AdapterMethod& method) {
  auto state = models::state_dict(*method.model());
  for (auto it = state.begin(); it != state.end();) {
    it = it->first.rfind(method.adapter_prefix() + ".", 0) == 0 ? state.erase(it) : std::next(it);
  }
  return state;
}

// Runs tools/peft_reference.py with `args`; false when it failed.
inline bool peft_reference(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/peft_reference.py " + args;
  return std::system(cmd.c_str()) == 0;
}

}  // namespace aft::testing
