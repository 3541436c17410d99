// `delta` (Li et al., ICLR 2019, "DELTA: Deep Learning Transfer using Feature Map with
// Attention"): L2-SP's pull on the weights replaced by a pull on chosen layers' feature maps
// towards those of the frozen pretrained model for the same batch, each channel weighted by
// how much zeroing it hurts a classifier on the pretrained features (the attention).
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "aft/methods/registry.h"

namespace aft::methods {

struct DeltaOptions : Options {
  double alpha = 0.01;               // weight of the feature-map pull
  double beta = 0.01;                // plain L2 on the new head
  std::string attention = "on";      // on: channel attention; off: every channel weighs 1
  std::string layers = "stages";     // stages | blocks | comma-separated block names
  int64_t attention_epochs = 10;     // probe epochs on cached features before the attention
  double attention_lr = 0.1;         // SGD rate of that probe
  int64_t attention_batches = 10;    // training batches the loss rises are averaged over
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// A layer whose output is pulled: a block of the model (its name as in units()) and the trunk
// piece that computes it (VisionModel::run_pieces).
struct PulledLayer {
  std::string name;
  int64_t piece = 0;
};

// `stages`: the last block of each stage (ResNet: layer1..layer4's outputs, as TLlib); a model
// with one stage (ViT) takes the blocks at a quarter, half, three quarters and the end of its
// depth. `blocks`: every block. Otherwise a comma-separated list of block names.
std::vector<PulledLayer> pulled_layers(const models::VisionModel& model, const std::string& spec);

// Runs the trunk piece by piece, keeping the outputs of `layers` in `maps`. With `logits`
// false it stops after the last pulled layer and returns an undefined tensor.
torch::Tensor forward_with_maps(models::VisionModel& model, const torch::Tensor& images,
                                const std::vector<PulledLayer>& layers, std::vector<torch::Tensor>& maps,
                                bool logits = true);

// The channel axis of a feature map: 1 for a conv map [N, C, H, W], the last for tokens [N, T, D].
int64_t channel_dim(const torch::Tensor& map);

// The pull, averaged over the batch: 1/2 * sum over layers l and channels c of
// weights[l][c] * ||target - source||^2 over that channel's positions / number of positions.
torch::Tensor feature_map_penalty(const std::vector<torch::Tensor>& target, const std::vector<torch::Tensor>& source,
                                  const std::vector<torch::Tensor>& weights);

MethodInfo delta_method();

}  // namespace aft::methods
