// DELTA's channel attention: how much the task loss rises when one channel of a pulled
// layer's output is zeroed, measured once before fine-tuning with a linear probe trained on
// the frozen pretrained features (the target task has a new head, so the source's own head
// cannot judge a channel), then standardised per layer and turned into weights by a softmax.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "aft/methods/delta.h"
#include "aft/methods/method.h"

namespace aft::methods {

// The softmax temperature on the standardised rises: the reference implementation's 5, which
// keeps the weights within a small factor of uniform.
constexpr double kAttentionTemperature = 5.0;

// Per pulled layer, a float64 tensor [channels]: the mean over `batches` of
// cross_entropy(model with that channel zeroed) - cross_entropy(model), in eval mode.
std::vector<torch::Tensor> channel_loss_rise(models::VisionModel& model, const std::vector<PulledLayer>& layers,
                                             const std::vector<std::pair<torch::Tensor, torch::Tensor>>& batches);

// softmax((rise - mean) / std / kAttentionTemperature) with the population std, as float32;
// uniform when every channel rises alike (the std is 0).
torch::Tensor attention_from_rise(const torch::Tensor& rise);

struct ChannelAttention {
  std::vector<torch::Tensor> rise, attention;  // per pulled layer
  nlohmann::json report;
};

// The whole measurement on the task: features of the training images (eval transform) once,
// a linear probe on them (lp-ft's train_probe), then the loss rises over the first
// `batches` shuffled training batches. `model` is the pretrained model; its head is replaced
// by the probe's, its trunk untouched.
ChannelAttention measure_attention(models::VisionModel& model, const PrepareContext& context,
                                   const std::vector<PulledLayer>& layers, int64_t probe_epochs, double probe_lr,
                                   int64_t batches);

}  // namespace aft::methods
