// `linear`: a linear probe. Only the new head trains; the backbone stays in eval mode so
// its batch-norm statistics are not touched either (every backbone tensor stays bit-identical).
#include <torch/torch.h>

#include "aft/methods/baselines.h"

namespace aft::methods {
namespace {

class LinearMethod : public Method {
 public:
  std::string name() const override { return "linear"; }
  std::vector<ParamGroup> param_groups() override {
    std::vector<torch::Tensor> head;
    for (auto& p : model_->named_parameters()) {
      if (models::is_head_param(*model_, p.key())) head.push_back(p.value());
    }
    return {{"head", head, 1.0, -1.0}};
  }
  // The whole network stays in eval mode: a linear probe reads fixed features.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override { return {model_}; }
};

}  // namespace

MethodInfo linear_method() {
  MethodInfo info{"linear", "linear probe: train only the new head, backbone frozen in eval mode",
                  [] { return std::make_unique<NoOptions>(); },
                  [](const Options&) { return std::make_shared<LinearMethod>(); }};
  // A forward through the frozen backbone and a backward through the head alone (work.h: 1/3),
  // plus the eval-mode pass's share of the batch work; measured races put it near 0.4.
  info.cost_guess = 0.4;
  return info;
}

}  // namespace aft::methods
