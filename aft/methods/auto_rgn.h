// Auto-RGN (surgical fine-tuning, Lee et al. 2022): each epoch, every tensor's learning rate
// is the base rate times its min-max normalised relative gradient norm ||g|| / ||w||,
// taken from the last minibatch of the previous epoch (a probe batch before epoch 1).
#pragma once
#include <vector>

#include "aft/methods/method.h"

namespace aft::methods {

class AutoRgnMethod : public Method {
 public:
  std::string name() const override { return "auto-rgn"; }
  void attach(models::ModelPtr model) override;
  std::vector<ParamGroup> param_groups() override;
  void on_epoch_start(train::Trainer& trainer, int64_t epoch) override;
  nlohmann::json report() override;
  // Normalised RGN per tensor from the gradients currently held (exposed for tests).
  std::vector<double> normalised_rgn() const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;
  std::vector<bool> is_bias_;
  nlohmann::json history_ = nlohmann::json::array();
};

}  // namespace aft::methods
