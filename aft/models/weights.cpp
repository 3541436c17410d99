#include "aft/models/weights.h"

#include <regex>
#include <sstream>
#include <vector>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"
#include "aft/models/vit.h"

namespace aft::models {
namespace {

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// Error lists are capped so that loading, say, a ViT file into a ResNet still prints one
// readable line; the counts are always complete.
constexpr size_t kMaxListed = 40;

void append_list(std::ostringstream& out, const char* what, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << "; " << items.size() << " " << what << ": ";
  for (size_t i = 0; i < items.size() && i < kMaxListed; ++i) out << (i ? ", " : "") << items[i];
  if (items.size() > kMaxListed) out << ", ... (" << items.size() - kMaxListed << " more)";
}

struct Rename {
  std::regex pattern;
  std::string replacement;
};

const std::vector<Rename>& timm_to_torchvision() {
  static const std::vector<Rename> rules = {
      {std::regex("^cls_token$"), "class_token"},
      {std::regex("^pos_embed$"), "encoder.pos_embedding"},
      {std::regex("^patch_embed\\.proj\\.(weight|bias)$"), "conv_proj.$1"},
      {std::regex("^blocks\\.([0-9]+)\\.norm1\\.(.*)$"), "encoder.layers.encoder_layer_$1.ln_1.$2"},
      {std::regex("^blocks\\.([0-9]+)\\.attn\\.qkv\\.(weight|bias)$"),
       "encoder.layers.encoder_layer_$1.self_attention.in_proj_$2"},
      {std::regex("^blocks\\.([0-9]+)\\.attn\\.proj\\.(.*)$"), "encoder.layers.encoder_layer_$1.self_attention.out_proj.$2"},
      {std::regex("^blocks\\.([0-9]+)\\.norm2\\.(.*)$"), "encoder.layers.encoder_layer_$1.ln_2.$2"},
      {std::regex("^blocks\\.([0-9]+)\\.mlp\\.fc1\\.(.*)$"), "encoder.layers.encoder_layer_$1.mlp.0.$2"},
      {std::regex("^blocks\\.([0-9]+)\\.mlp\\.fc2\\.(.*)$"), "encoder.layers.encoder_layer_$1.mlp.3.$2"},
      {std::regex("^norm\\.(.*)$"), "encoder.ln.$1"},
      {std::regex("^head\\.(weight|bias)$"), "heads.head.$1"},
  };
  return rules;
}

const std::vector<Rename>& torchvision_to_timm() {
  static const std::vector<Rename> rules = {
      {std::regex("^class_token$"), "cls_token"},
      {std::regex("^encoder\\.pos_embedding$"), "pos_embed"},
      {std::regex("^conv_proj\\.(weight|bias)$"), "patch_embed.proj.$1"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.ln_1\\.(.*)$"), "blocks.$1.norm1.$2"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.self_attention\\.in_proj_(weight|bias)$"),
       "blocks.$1.attn.qkv.$2"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.self_attention\\.out_proj\\.(.*)$"), "blocks.$1.attn.proj.$2"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.ln_2\\.(.*)$"), "blocks.$1.norm2.$2"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.mlp\\.0\\.(.*)$"), "blocks.$1.mlp.fc1.$2"},
      {std::regex("^encoder\\.layers\\.encoder_layer_([0-9]+)\\.mlp\\.3\\.(.*)$"), "blocks.$1.mlp.fc2.$2"},
      {std::regex("^encoder\\.ln\\.(.*)$"), "norm.$1"},
      {std::regex("^heads\\.head\\.(weight|bias)$"), "head.$1"},
  };
  return rules;
}

TensorMap rename_all(const TensorMap& tensors, const std::vector<Rename>& rules) {
  TensorMap out;
  for (const auto& [key, tensor] : tensors) {
    std::string name = key;
    for (const auto& rule : rules) {
      if (std::regex_match(key, rule.pattern)) {
        name = std::regex_replace(key, rule.pattern, rule.replacement);
        break;
      }
    }
    check(out.emplace(name, tensor).second, "two tensors map to the same name '", name, "'");
  }
  return out;
}

}  // namespace

TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) {
    if (b.value().defined()) out[b.key()] = b.value();
  }
  return out;
}

void load_state_dict(VisionModel& model, const TensorMap& tensors, const LoadOptions& options,
                     const std::string& source) {
  const TensorMap expected = state_dict(model);
  // With replace_head, a file whose head has another shape (or no head at all) keeps the
  // model's fresh head: fine-tuning to a new class count is the normal case, not an error.
  bool keep_head = false;
  if (options.replace_head) {
    for (const auto& [key, tensor] : expected) {
      if (!is_head_param(model, key)) continue;
      auto it = tensors.find(key);
      if (it == tensors.end() || !it->second.sizes().equals(tensor.sizes())) keep_head = true;
    }
  }
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [key, tensor] : expected) {
    if (keep_head && is_head_param(model, key)) continue;
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      missing.push_back(key);
    } else if (!it->second.sizes().equals(tensor.sizes())) {
      mismatched.push_back(key + " (model " + shape_str(tensor) + ", file " + shape_str(it->second) + ")");
    }
  }
  for (const auto& [key, tensor] : tensors) {
    if (keep_head && is_head_param(model, key)) continue;
    if (expected.find(key) == expected.end()) unexpected.push_back(key);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream out;
    out << source << ": weights do not fit " << model.config().arch;
    append_list(out, "shape mismatches", mismatched);
    append_list(out, "missing keys", missing);
    append_list(out, "unexpected keys", unexpected);
    throw Error(out.str());
  }
  torch::NoGradGuard no_grad;
  for (const auto& [key, target] : expected) {
    if (keep_head && is_head_param(model, key)) continue;
    const torch::Tensor& value = tensors.at(key);
    check(!value.is_floating_point() || target.is_floating_point() || key.find("num_batches_tracked") != std::string::npos,
          source, ": tensor '", key, "' is ", c10::toString(value.scalar_type()), " but the model holds ",
          c10::toString(target.scalar_type()));
    // copy_ converts F16/BF16/F64 to the model's dtype and moves to its device.
    torch::Tensor destination = target;  // shares storage with the model's tensor
    destination.copy_(value);
  }
}

void load_weights(VisionModel& model, const std::string& path, const LoadOptions& options) {
  safetensors::File file = safetensors::read(path);
  TensorMap tensors(file.tensors.begin(), file.tensors.end());
  check_finite(tensors, path);
  tensors = names_for_model(model, tensors);
  try {
    load_state_dict(model, tensors, options, path);
  } catch (const Error& e) {
    // The most common cause is weights of another architecture; say so when the file knows.
    auto arch = file.metadata.find("arch");
    if (arch == file.metadata.end() || arch->second == model.config().arch) throw;
    fail(e.what(), " (the file's metadata says arch ", arch->second, ")");
  }
}

void check_finite(const TensorMap& tensors, const std::string& path) {
  for (const auto& [name, t] : tensors) {
    if (!t.is_floating_point() || t.numel() == 0) continue;
    const auto finite = torch::isfinite(t);
    if (finite.all().item<bool>()) continue;
    const int64_t bad = t.numel() - finite.sum().item<int64_t>();
    fail(path, ": tensor '", name, "' holds ", bad, " non-finite value(s) (NaN or infinity); these weights are damaged");
  }
}

std::map<std::string, std::string> model_metadata(const VisionModel& model) {
  const ModelConfig& c = model.config();
  std::ostringstream width;
  width << c.width;
  return {{"format", "pt"},
          {"arch", c.arch},
          {"num_classes", std::to_string(c.num_classes)},
          {"stem", c.stem},
          {"width", width.str()},
          {"image_size", std::to_string(c.image_size)}};
}

void save_weights(const torch::nn::Module& model, const std::string& path,
                  const std::map<std::string, std::string>& metadata) {
  TensorMap tensors;
  for (const auto& [key, tensor] : state_dict(model)) {
    tensors[key] = tensor.is_floating_point() ? tensor.detach().to(torch::kCPU, torch::kFloat32) : tensor.detach().cpu();
  }
  std::map<std::string, std::string> meta;
  if (const auto* vision = dynamic_cast<const VisionModel*>(&model)) meta = model_metadata(*vision);
  for (const auto& [k, v] : metadata) meta[k] = v;  // the caller's entries win
  safetensors::write(path, tensors, meta);
}

bool has_timm_names(const TensorMap& tensors) {
  for (const auto& [key, tensor] : tensors) {
    if (key == "cls_token" || key == "pos_embed" || key.rfind("patch_embed.", 0) == 0 || key.rfind("blocks.", 0) == 0) {
      return true;
    }
  }
  return false;
}

TensorMap names_for_model(const VisionModel& model, const TensorMap& tensors) {
  // Only ViTs have two naming schemes; EfficientNets use timm's own names ("blocks.0.0...").
  if (dynamic_cast<const VisionTransformer*>(&model) == nullptr || !has_timm_names(tensors)) return tensors;
  return map_timm_names(tensors);
}

TensorMap map_timm_names(const TensorMap& tensors) { return rename_all(tensors, timm_to_torchvision()); }
TensorMap to_timm_names(const TensorMap& tensors) { return rename_all(tensors, torchvision_to_timm()); }

}  // namespace aft::models
