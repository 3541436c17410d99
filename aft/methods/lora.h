// `lora` (Hu et al. 2021, docs/peft.md): each targeted weight W becomes
// W + (alpha / rank) B A with A [rank, in...] Kaiming-uniform and B [out, rank] zero, so the
// model starts exactly as the pretrained one; W stays frozen, A, B and the new head train. On a
// k x k conv, A is a k x k conv to `rank` channels and B a 1 x 1 conv back (the low-rank pair).
#pragma once
#include <string>

#include "aft/methods/adapters.h"
#include "aft/methods/registry.h"

namespace aft::methods {

struct LoraOptions : Options {
  int64_t rank = 8;
  // peft's default (lora_alpha 8 with r 8): scale 1 at the default rank, and, as in peft, a
  // larger --rank alone lowers the scale alpha/rank instead of growing the update.
  double alpha = 8;
  std::string targets = "auto";
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// The adapter of one weight: parameters "lora_A" and "lora_B".
class LoraAdapter : public torch::nn::Module {
 public:
  LoraAdapter(const torch::Tensor& weight, int64_t rank);
  torch::Tensor a, b;
};

class LoraMethod : public AdapterMethod {
 public:
  explicit LoraMethod(LoraOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "lora"; }
  std::string adapter_prefix() const override { return "lora"; }
  torch::Tensor adapted_weight(const AdaptedWeight& w) const override;
  double scale() const { return options_.alpha / static_cast<double>(options_.rank); }

 protected:
  std::string targets() const override { return options_.targets; }
  std::shared_ptr<torch::nn::Module> make_adapter(const AdaptedWeight& w) override;
  void reset_to_identity(torch::nn::Module& adapter) override;

 private:
  LoraOptions options_;
};

MethodInfo lora_method();

}  // namespace aft::methods
