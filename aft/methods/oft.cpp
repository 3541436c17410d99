#include "aft/methods/oft.h"

#include <torch/torch.h>

#include "aft/core/error.h"

namespace aft::methods {

void OftOptions::visit(OptionVisitor& v) {
  v.field("blocks", "orthogonal blocks along each targeted layer's outputs (must divide the output count)", blocks);
  v.field("targets",
          "layers to adapt: auto (ViT: attention and MLP projections; ResNet: convs of the residual stages; "
          "EfficientNet: 1x1 convs), or "
          "comma-separated unit names, layer names (out_proj, mlp.0, layer4.1.conv2) or a regex over layer paths",
          targets);
}

void OftOptions::validate() const {
  check(blocks >= 1, "--blocks ", blocks, ": must be >= 1");
  check(!targets.empty(), "--targets is empty; give auto, unit names, layer names or a regex");
}

torch::Tensor cayley(const torch::Tensor& q) {
  const auto s = 0.5 * (q - q.transpose(-2, -1));
  const auto eye = torch::eye(q.size(-1), q.options()).expand_as(q);
  // (I + S) and (I - S)^-1 commute, so (I + S)(I - S)^-1 = (I - S)^-1 (I + S): one solve, no
  // explicit inverse. I - S is always invertible (S's eigenvalues are imaginary).
  return torch::linalg_solve(eye - s, eye + s);
}

OftAdapter::OftAdapter(const torch::Tensor& weight, int64_t blocks) {
  const int64_t n = weight.size(0) / blocks;
  q = register_parameter("oft_Q", torch::zeros({blocks, n, n}, weight.options()));
}

std::shared_ptr<torch::nn::Module> OftMethod::make_adapter(const AdaptedWeight& w) {
  check(w.base.size(0) % options_.blocks == 0, "--blocks ", options_.blocks, ": does not divide the ", w.base.size(0),
        " outputs of ", w.path, " (shape ", w.base.sizes(), "); choose a divisor or narrow --targets");
  return std::make_shared<OftAdapter>(w.base.detach(), options_.blocks);
}

torch::Tensor OftMethod::adapted_weight(const AdaptedWeight& w) const {
  const auto& q = static_cast<const OftAdapter&>(*w.adapter).q;
  const int64_t blocks = q.size(0), n = q.size(1);
  // Row block i of W (its outputs i*n .. i*n+n-1) is rotated by R_i.
  return torch::matmul(cayley(q), w.base.reshape({blocks, n, -1})).view(w.base.sizes());
}

void OftMethod::reset_to_identity(torch::nn::Module& adapter) {
  torch::NoGradGuard no_grad;
  static_cast<OftAdapter&>(adapter).q.zero_();
}

MethodInfo oft_method() {
  return {"oft", "orthogonal fine-tuning: W -> R W, R block-diagonal orthogonal (Cayley), base frozen (OFT)",
          [] { return std::make_unique<OftOptions>(); },
          [](const Options& o) { return std::make_shared<OftMethod>(dynamic_cast<const OftOptions&>(o)); }};
}

}  // namespace aft::methods
