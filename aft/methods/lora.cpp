// LoRA without dropout on the adapter's input: the update is folded into the weight for each
// forward (adapters.h), where input dropout has no place; the paper's results use none on
// vision-sized ranks either.
#include "aft/methods/lora.h"

#include <torch/nn/init.h>
#include <torch/torch.h>

#include <cmath>

#include "aft/core/error.h"

namespace aft::methods {

void LoraOptions::visit(OptionVisitor& v) {
  v.field("rank", "rank r of each update B A", rank);
  v.field("alpha", "the update is scaled by alpha / rank", alpha);
  v.field("targets",
          "layers to adapt: auto (ViT: attention and MLP projections; ResNet: convs of the residual stages; "
          "EfficientNet: 1x1 convs), or "
          "comma-separated unit names, layer names (out_proj, mlp.0, layer4.1.conv2) or a regex over layer paths",
          targets);
}

void LoraOptions::validate() const {
  check(rank >= 1, "--rank ", rank, ": must be >= 1");
  check(std::isfinite(alpha) && alpha > 0, "--alpha ", alpha, ": must be > 0");
  check(!targets.empty(), "--targets is empty; give auto, unit names, layer names or a regex");
}

LoraAdapter::LoraAdapter(const torch::Tensor& weight, int64_t rank) {
  // Linear [out, in] -> A [r, in], B [out, r]; conv [out, in, kh, kw] -> A [r, in, kh, kw] (a
  // conv with the layer's kernel), B [out, r, 1, 1] (a 1 x 1 conv).
  auto a_shape = weight.sizes().vec();
  a_shape[0] = rank;
  std::vector<int64_t> b_shape(weight.dim(), 1);
  b_shape[0] = weight.size(0);
  b_shape[1] = rank;
  a = register_parameter("lora_A", torch::empty(a_shape, weight.options()));
  b = register_parameter("lora_B", torch::zeros(b_shape, weight.options()));
  torch::NoGradGuard no_grad;
  // As torch.nn.Linear / Conv2d initialise their own weights (peft does the same for A).
  torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
}

std::shared_ptr<torch::nn::Module> LoraMethod::make_adapter(const AdaptedWeight& w) {
  return std::make_shared<LoraAdapter>(w.base.detach(), options_.rank);
}

torch::Tensor LoraMethod::adapted_weight(const AdaptedWeight& w) const {
  const auto& adapter = static_cast<const LoraAdapter&>(*w.adapter);
  const auto delta = torch::matmul(adapter.b.flatten(1), adapter.a.flatten(1)).view(w.base.sizes());
  return w.base + scale() * delta;
}

void LoraMethod::reset_to_identity(torch::nn::Module& adapter) {
  torch::NoGradGuard no_grad;
  static_cast<LoraAdapter&>(adapter).b.zero_();
}

MethodInfo lora_method() {
  return {"lora", "low-rank updates W + (alpha/r) B A beside attention/MLP linears or convs, base frozen (LoRA)",
          [] { return std::make_unique<LoraOptions>(); },
          [](const Options& o) { return std::make_shared<LoraMethod>(dynamic_cast<const LoraOptions&>(o)); }};
}

}  // namespace aft::methods
