// What --resume needs: the module's weights, the optimizer state, the RNG state and the
// progress so far. Written into a temporary directory and swapped in by rename, so a
// crash at any moment leaves either the previous checkpoint or the new one, never half.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace aft::train {

struct CheckpointState {
  int64_t epochs_done = 0;
  nlohmann::json progress;                    // best accuracy, best epoch, history, loss scale ...
  std::map<std::string, torch::Tensor> best;  // best-validation weights (--keep-best), may be empty
  std::map<std::string, torch::Tensor> ema;   // the weights' moving average (--ema), may be empty
};

void save_checkpoint(const std::string& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state);
// Strictly loads a module's parameters and buffers from a safetensors file (names, shapes).
void load_module_state(torch::nn::Module& module, const std::string& path);
bool has_checkpoint(const std::string& dir);
// The progress a checkpoint recorded (its state.json: epochs_done, best_val_accuracy, history,
// ...), without loading any weights; null when there is no checkpoint.
nlohmann::json checkpoint_progress(const std::string& dir);
// Restores everything save_checkpoint wrote; throws naming the file on any mismatch.
CheckpointState load_checkpoint(const std::string& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer);

}  // namespace aft::train
