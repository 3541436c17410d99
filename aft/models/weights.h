// Loading and saving model weights as safetensors, strictly: every missing key, unexpected
// key and shape mismatch is reported by name and shape in one error. timm ViT names are
// mapped to torchvision's on load.
#pragma once
#include <map>
#include <string>

#include "aft/models/model.h"

namespace aft::models {

using TensorMap = std::map<std::string, torch::Tensor>;

// Parameters and buffers by full name (torchvision's state_dict keys).
TensorMap state_dict(const torch::nn::Module& module);

struct LoadOptions {
  // When the file's head has another class count, keep the model's fresh head instead of failing.
  bool replace_head = false;
};

// Copies tensors into the module (converting dtype), strictly. `source` names the file in errors.
void load_state_dict(VisionModel& model, const TensorMap& tensors, const LoadOptions& options,
                     const std::string& source);

// Reads a safetensors file, maps timm names if needed, and loads it into the model.
void load_weights(VisionModel& model, const std::string& path, const LoadOptions& options = {});
// Throws naming the first tensor with a NaN or an infinity: weights that cannot be right load
// nowhere (a NaN running_var would otherwise give NaN predictions without a word).
void check_finite(const TensorMap& tensors, const std::string& path);
// Writes the model's state dict (float32) with metadata; atomic.
void save_weights(const torch::nn::Module& model, const std::string& path,
                  const std::map<std::string, std::string>& metadata = {});

// The model's config as safetensors metadata strings (arch, num_classes, stem, width, image_size).
std::map<std::string, std::string> model_metadata(const VisionModel& model);

// timm ViT checkpoints (cls_token, pos_embed, blocks.i.attn.qkv, ...) use other names for the
// same tensors; these map them to torchvision's and back. Unknown keys pass through unchanged.
bool has_timm_names(const TensorMap& tensors);
// The tensors under the model's own names: a ViT's timm names mapped, anything else unchanged.
TensorMap names_for_model(const VisionModel& model, const TensorMap& tensors);
TensorMap map_timm_names(const TensorMap& tensors);
TensorMap to_timm_names(const TensorMap& tensors);

}  // namespace aft::models
