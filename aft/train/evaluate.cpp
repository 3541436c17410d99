#include "aft/train/evaluate.h"

#include <torch/torch.h>

#include <chrono>

#include "aft/train/amp.h"

namespace aft::train {

EvalResult evaluate(Learner& method, data::Loader& loader, const torch::Device& device,
                    const std::string& amp, bool channels_last, const std::string& split) {
  const auto start = std::chrono::steady_clock::now();
  method.set_training(false);
  method.on_evaluate_start(split);
  torch::NoGradGuard no_grad;
  EvalResult result;
  double loss_sum = 0;
  int64_t correct = 0;
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    auto images = batch.images.to(device, /*non_blocking=*/true);
    if (channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
    const auto labels = batch.labels.to(device, /*non_blocking=*/true);
    torch::Tensor logits;
    {
      AutocastScope autocast(amp, device);
      logits = method.evaluate_batch(images, labels);
    }
    logits = logits.to(torch::kFloat32);
    result.metrics.add(logits, labels);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    result.samples += labels.size(0);
  }
  if (result.samples > 0) {
    result.accuracy = static_cast<double>(correct) / result.samples;
    result.loss = loss_sum / result.samples;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace aft::train
