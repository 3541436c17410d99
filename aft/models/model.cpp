#include "aft/models/model.h"

#include <algorithm>

#include "aft/core/error.h"
#include "aft/models/efficientnet.h"
#include "aft/models/resnet.h"
#include "aft/models/vit.h"

namespace aft::models {

nlohmann::json ModelConfig::to_json() const {
  return {{"arch", arch},   {"num_classes", num_classes}, {"stem", stem},
          {"width", width}, {"image_size", image_size},   {"drop_path", drop_path}};
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  check(j.is_object(), "model config must be a JSON object");
  ModelConfig c;
  try {
    if (j.contains("arch")) c.arch = j.at("arch").get<std::string>();
    if (j.contains("num_classes")) c.num_classes = j.at("num_classes").get<int64_t>();
    if (j.contains("stem")) c.stem = j.at("stem").get<std::string>();
    if (j.contains("width")) c.width = j.at("width").get<double>();
    if (j.contains("image_size")) c.image_size = j.at("image_size").get<int64_t>();
    if (j.contains("drop_path")) c.drop_path = j.at("drop_path").get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail("model config: ", e.what());
  }
  return c;
}

ModelPtr build_model(const ModelConfig& config) {
  VitShape shape;
  if (parse_vit_arch(config.arch, shape)) return std::make_shared<VisionTransformer>(config);
  if (config.arch.rfind("resnet", 0) == 0) return std::make_shared<ResNet>(config);
  LiteShape lite;
  if (parse_lite_arch(config.arch, lite)) return std::make_shared<EfficientNetLite>(config);
  std::string valid;
  for (const auto& a : list_architectures()) valid += (valid.empty() ? "" : ", ") + a.name;
  fail("unknown architecture '", config.arch, "' (valid: ", valid, "; ViTs take any patch size: vit_ti_P, vit_s_P, vit_b_P)");
}

std::vector<ArchInfo> list_architectures() {
  return {
      {"resnet18", "torchvision ResNet-18 (basic blocks 2-2-2-2)"},
      {"resnet26", "SpotTune/Decathlon ResNet-26 (3x3 stem, basic blocks 4-4-4, zero-pad shortcuts)"},
      {"resnet34", "torchvision ResNet-34 (basic blocks 3-4-6-3)"},
      {"resnet50", "torchvision ResNet-50 (bottlenecks 3-4-6-3, v1.5)"},
      {"resnet101", "torchvision ResNet-101 (bottlenecks 3-4-23-3, v1.5)"},
      {"vit_ti_16", "ViT-Ti, 192 wide, 3 heads, 12 layers (any patch size: vit_ti_P)"},
      {"vit_s_16", "ViT-S, 384 wide, 6 heads, 12 layers (any patch size: vit_s_P)"},
      {"vit_b_16", "ViT-B, 768 wide, 12 heads, 12 layers, torchvision vit_b_16 (any patch size: vit_b_P)"},
      {"efficientnet_lite0", "EfficientNet-Lite0, timm tf_efficientnet_lite0 (MBConv, ReLU6, TF same padding; 224 px)"},
      {"efficientnet_lite1", "EfficientNet-Lite1 (depth x1.1; 240 px)"},
      {"efficientnet_lite2", "EfficientNet-Lite2 (width x1.1, depth x1.2; 260 px)"},
      {"efficientnet_lite3", "EfficientNet-Lite3 (width x1.2, depth x1.4; 280 px)"},
      {"efficientnet_lite4", "EfficientNet-Lite4 (width x1.4, depth x1.8; 300 px)"},
  };
}

std::string input_normalization(const std::string& arch) {
  LiteShape lite;
  return parse_lite_arch(arch, lite) ? "inception" : "imagenet";
}

bool is_head_param(const VisionModel& model, const std::string& name) {
  const std::string prefix = model.head_prefix();
  return name == prefix || name.rfind(prefix + ".", 0) == 0;
}

std::vector<std::pair<std::string, std::vector<TunableUnit>>> group_units(const std::vector<TunableUnit>& units) {
  std::vector<std::pair<std::string, std::vector<TunableUnit>>> groups;
  for (const auto& unit : units) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == unit.group; });
    if (it == groups.end()) {
      groups.push_back({unit.group, {unit}});
    } else {
      it->second.push_back(unit);
    }
  }
  return groups;
}

}  // namespace aft::models
