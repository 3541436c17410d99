// `oft` (orthogonal fine-tuning, Qiu et al. 2023, docs/peft.md): each targeted weight
// W [out, in...] becomes R W with R block-diagonal orthogonal (--blocks blocks along the output
// dimension), each block the Cayley transform (I + S)(I - S)^-1 of a skew-symmetric
// S = (Q - Q^T) / 2. Q starts at zero, so R = I and the model starts as the pretrained one; W
// stays frozen, Q and the new head train. Orthogonal R keeps the angles between the layer's
// neurons, which is the paper's argument for it.
#pragma once
#include <string>

#include "aft/methods/adapters.h"
#include "aft/methods/registry.h"

namespace aft::methods {

struct OftOptions : Options {
  int64_t blocks = 4;  // every targeted layer's output count must be a multiple
  std::string targets = "auto";
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// The Cayley transform of each block: q [b, n, n] -> R [b, n, n], orthogonal for any q.
torch::Tensor cayley(const torch::Tensor& q);

// The adapter of one weight: parameter "oft_Q" [blocks, out/blocks, out/blocks].
class OftAdapter : public torch::nn::Module {
 public:
  OftAdapter(const torch::Tensor& weight, int64_t blocks);
  torch::Tensor q;
};

class OftMethod : public AdapterMethod {
 public:
  explicit OftMethod(OftOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "oft"; }
  std::string adapter_prefix() const override { return "oft"; }
  torch::Tensor adapted_weight(const AdaptedWeight& w) const override;

 protected:
  std::string targets() const override { return options_.targets; }
  std::shared_ptr<torch::nn::Module> make_adapter(const AdaptedWeight& w) override;
  void reset_to_identity(torch::nn::Module& adapter) override;

 private:
  OftOptions options_;
};

MethodInfo oft_method();

}  // namespace aft::methods
