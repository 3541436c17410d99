#include "aft/models/source.h"

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/parse.h"
#include "aft/models/safetensors.h"

namespace aft::models {

void ModelOptions::visit(OptionVisitor& v) {
  v.field("model", "architecture (see `aft models`); default: from the weights' metadata", model);
  v.field("weights", "pretrained weights (.safetensors) or a run directory", weights);
  v.field("stem", "ResNet stem imagenet|small; default: from the weights, else imagenet", stem);
  v.field("width", "ResNet width multiplier; 0: from the weights, else 1", width);
  v.field("keep-head", "keep the pretrained classifier instead of a new head", keep_head);
}

std::string resolve_weights_path(const std::string& weights) {
  if (weights.empty()) return weights;
  if (fs::is_directory(weights)) {
    const std::string inner = weights + "/model.safetensors";
    check(fs::exists(inner), "--weights ", weights, ": directory holds no model.safetensors");
    return inner;
  }
  check(fs::exists(weights), "--weights ", weights, ": no such file");
  return weights;
}

std::string resolve_arch(const ModelOptions& options, const std::string& weights) {
  std::map<std::string, std::string> meta;
  if (!weights.empty()) meta = safetensors::read(weights).metadata;
  std::string arch = meta.count("arch") ? meta.at("arch") : (meta.count("architecture") ? meta.at("architecture") : "");
  if (!options.model.empty()) {
    check(arch.empty() || arch == options.model, "--model ", options.model, " but ", weights,
          " holds weights for ", arch);
    arch = options.model;
  }
  check(!arch.empty(), "--model is required (", weights.empty() ? "no --weights given" : weights + " names no architecture", ")");
  return arch;
}

ModelConfig resolve_model_config(const ModelOptions& options, const std::string& weights, int64_t classes,
                                 int64_t image_size) {
  ModelConfig c;
  std::map<std::string, std::string> meta;
  if (!weights.empty()) meta = safetensors::read(weights).metadata;
  auto from_meta = [&](const char* key) { return meta.count(key) ? meta.at(key) : std::string(); };
  c.arch = resolve_arch(options, weights);
  c.stem = !options.stem.empty() ? options.stem : (from_meta("stem").empty() ? "imagenet" : from_meta("stem"));
  if (options.width > 0 || from_meta("width").empty()) {
    c.width = options.width > 0 ? options.width : 1.0;
  } else {
    const auto width = parse_number(from_meta("width"));
    check(width && *width > 0, weights, ": metadata width '", from_meta("width"), "' is not a positive number");
    c.width = *width;
  }
  c.num_classes = classes;
  c.image_size = image_size;
  return c;
}

}  // namespace aft::models
