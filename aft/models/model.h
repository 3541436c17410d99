// The common face of every architecture: a torch Module with torchvision parameter names,
// a replaceable head, and the named tunable units (with homogeneous groups) that methods
// use so that no method special-cases ResNet vs ViT.
#pragma once
#include <torch/nn/module.h>

#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

namespace aft::models {

struct ModelConfig {
  std::string arch = "resnet18";   // resnet18|26|34|50|101, vit_{ti,s,b}_P, efficientnet_lite0..4
  int64_t num_classes = 1000;
  std::string stem = "imagenet";   // ResNet stem: imagenet (7x7/2 + maxpool) | small (3x3/1, no pool)
  double width = 1.0;              // ResNet channel multiplier (64*width base channels)
  int64_t image_size = 224;        // ViT input size (position embeddings depend on it)
  double drop_path = 0;            // stochastic depth (ViT, EfficientNet): the last block's rate, rising linearly from 0

  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // missing keys keep defaults
};

// Unit granularity. `layer`: one conv (or linear) with the norm that belongs to it — the
// contribution method's and AMCF's search dimensions. `block`: a residual block (ResNet)
// or an attn / ffn sub-block (ViT) — the partial fine-tuning units.
enum class UnitLevel { layer, block };

struct TunableUnit {
  std::string name;                 // e.g. "layer2.1.conv2", "encoder.layers.encoder_layer_3.attn"
  std::string group;                // homogeneous group: units with the same parameter shapes
  std::string block;                // the residual block / transformer block it belongs to
  std::string stage;                // the stage ("layer2") or, for ViT, "encoder"
  std::vector<std::string> params;  // full names as in named_parameters()
};

class VisionModel : public torch::nn::Module {
 public:
  explicit VisionModel(ModelConfig config) : config_(std::move(config)) {}
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // Everything before the head: pooled features, shape [N, feature_dim()].
  virtual torch::Tensor features(torch::Tensor x) = 0;
  virtual torch::Tensor head(torch::Tensor features) = 0;
  virtual int64_t feature_dim() const = 0;
  // Units ordered from input to output; the head is never a unit (it is always trained).
  virtual std::vector<TunableUnit> units(UnitLevel level) const = 0;
  // Prefix of the classifier's parameter names ("fc" for ResNet, "heads.head" for ViT).
  virtual std::string head_prefix() const = 0;
  // Regex over module paths of the layers LoRA/OFT adapt by default (--targets auto).
  virtual std::string adapter_pattern() const = 0;
  // Replaces the classifier with a freshly initialised one for `num_classes` outputs.
  virtual void replace_head(int64_t num_classes) = 0;

  // The trunk as a chain of pieces, for methods that run part of it on its own (a cached
  // frozen prefix): features(x) == trunk_end(run_pieces(x, 0, piece_count())). ResNet: the
  // stem, then each residual block; ViT: the patch embedding (class token, positions), then
  // each encoder layer.
  virtual int64_t piece_count() const = 0;
  virtual torch::Tensor run_pieces(torch::Tensor x, int64_t begin, int64_t end) = 0;
  virtual torch::Tensor trunk_end(torch::Tensor x) = 0;
  // Whether a parameter or buffer name belongs to piece i.
  virtual bool in_piece(const std::string& name, int64_t piece) const = 0;
  const ModelConfig& config() const { return config_; }

 protected:
  ModelConfig config_;
};

using ModelPtr = std::shared_ptr<VisionModel>;

// Builds a randomly initialised model (torchvision's initialisation scheme).
ModelPtr build_model(const ModelConfig& config);
// Names accepted by build_model, with one-line descriptions, for `aft models`.
struct ArchInfo {
  std::string name;
  std::string description;
};
std::vector<ArchInfo> list_architectures();
// The input normalisation an architecture's pretrained weights expect, as a transform
// normalisation name (aft/data/transforms.h): "inception" (mean/std 0.5) for EfficientNet-Lite,
// "imagenet" otherwise (and for an empty or unknown name).
std::string input_normalization(const std::string& arch);
// True when the name is a head parameter/buffer of this model.
bool is_head_param(const VisionModel& model, const std::string& name);
// Units grouped by their homogeneous group, in first-appearance order.
std::vector<std::pair<std::string, std::vector<TunableUnit>>> group_units(const std::vector<TunableUnit>& units);

}  // namespace aft::models
