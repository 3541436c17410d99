// `full`: every parameter trains — the reference every other method is measured against.
#include <torch/torch.h>

#include "aft/methods/baselines.h"

namespace aft::methods {
namespace {

class FullMethod : public Method {
 public:
  std::string name() const override { return "full"; }
  std::vector<ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, -1.0}}; }
};

}  // namespace

MethodInfo full_method() {
  return {"full", "fine-tune every parameter", [] { return std::make_unique<NoOptions>(); },
          [](const Options&) { return std::make_shared<FullMethod>(); }};
}

}  // namespace aft::methods
