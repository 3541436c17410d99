// L2-SP (Li et al. 2018): full fine-tuning with alpha/2 * ||w - w_pretrained||^2 on the
// backbone and beta/2 * ||w_head||^2 on the head, in place of plain weight decay.
#pragma once
#include <map>

#include "aft/methods/method.h"

namespace aft::methods {

struct L2spOptions : Options {
  double alpha = 0.01;  // pull towards the pretrained backbone
  double beta = 0.01;   // plain L2 on the new head
  void visit(OptionVisitor& v) override {
    v.field("alpha", "weight of ||w - w_pretrained||^2 / 2 on the backbone", alpha);
    v.field("beta", "weight of ||w_head||^2 / 2 on the head", beta);
  }
};

class L2spMethod : public Method {
 public:
  explicit L2spMethod(L2spOptions options) : options_(options) {}
  std::string name() const override { return "l2sp"; }
  void attach(models::ModelPtr model) override;
  std::vector<ParamGroup> param_groups() override;
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override;
  // The penalty alone, for tests and reporting.
  torch::Tensor penalty();

 private:
  L2spOptions options_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> anchored_;  // (parameter, pretrained copy)
  std::vector<torch::Tensor> head_;
};

}  // namespace aft::methods
