// `aft models`: the architectures with their size and tunable-unit counts.
// `aft forward`: eval-mode logits for a safetensors input, so any program can check a model.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/parse.h"
#include "aft/models/model.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct ForwardOptions {
  std::string model;
  std::string weights;
  std::string input;
  std::string output;
  int64_t num_classes = 0;  // 0: from the weights file's head
  std::string stem = "imagenet";
  double width = 1.0;
  int64_t image_size = 0;  // 0: from the input tensor
};

void print_models() {
  std::printf("%-18s %9s %11s %11s %13s  %s\n", "arch", "params", "layer-units", "block-units", "groups(l/b)",
              "description");
  for (const auto& arch : models::list_architectures()) {
    models::ModelConfig config;
    config.arch = arch.name;
    auto model = models::build_model(config);
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    const auto layer = model->units(models::UnitLevel::layer);
    const auto block = model->units(models::UnitLevel::block);
    const std::string groups = std::to_string(models::group_units(layer).size()) + "/" +
                               std::to_string(models::group_units(block).size());
    std::printf("%-18s %8.2fM %11zu %11zu %13s  %s\n", arch.name.c_str(), params / 1e6, layer.size(), block.size(),
                groups.c_str(), arch.description.c_str());
  }
  std::printf("(defaults: 1000 classes, imagenet stem, width 1, 224 px; ResNet stem and width only)\n");
}

void run_forward(const ForwardOptions& o, const CLI::App& cmd) {
  safetensors::File weights = safetensors::read(o.weights);
  models::TensorMap tensors(weights.tensors.begin(), weights.tensors.end());
  const auto meta = [&](const char* key) {
    auto it = weights.metadata.find(key);
    return it == weights.metadata.end() ? std::string() : it->second;
  };

  const safetensors::File input = safetensors::read(o.input);
  auto found = input.tensors.find("input");
  check(found != input.tensors.end(), o.input, ": no tensor named 'input'");
  torch::Tensor x = found->second;
  check(x.dim() == 4 && x.size(1) == 3, o.input, ": 'input' must be [N, 3, H, W], got ", x.sizes());
  x = x.to(torch::kFloat32);

  models::ModelConfig config;
  config.arch = o.model;
  // Unset options fall back to what the weights file says about itself (save_weights and
  // tools/export_torchvision.py record them), so files from either load with no flags.
  config.stem = cmd.count("--stem") || meta("stem").empty() ? o.stem : meta("stem");
  if (cmd.count("--width") || meta("width").empty()) {
    config.width = o.width;
  } else {
    const auto width = parse_number(meta("width"));
    check(width && *width > 0, o.weights, ": metadata width '", meta("width"), "' is not a positive number");
    config.width = *width;
  }
  config.image_size = o.image_size > 0 ? o.image_size : x.size(2);
  auto model = models::build_model(config);
  tensors = models::names_for_model(*model, tensors);
  int64_t classes = o.num_classes;
  if (classes <= 0) {
    auto head = tensors.find(model->head_prefix() + ".weight");
    check(head != tensors.end(), o.weights, ": no ", model->head_prefix(),
          ".weight to infer the class count from; pass --num-classes");
    classes = head->second.size(0);
  }
  if (classes != model->config().num_classes) model->replace_head(classes);
  models::load_state_dict(*model, tensors, {}, o.weights);
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model->forward(x);
  // An existing file is replaced only when an earlier aft forward wrote it.
  if (fs::exists(o.output)) {
    bool ours = false;
    try {
      ours = safetensors::read(o.output).metadata.count("aft.forward") > 0;
    } catch (const Error&) {
    }
    check(ours, "--output ", o.output, " exists and was not written by aft forward; choose another --output");
  }
  safetensors::write(o.output, {{"logits", logits}}, {{"arch", o.model}, {"weights", o.weights}, {"aft.forward", "1"}});
  std::cerr << "aft forward: " << x.size(0) << " inputs -> " << o.output << " (logits " << logits.sizes() << ")\n";
}

}  // namespace

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "list the architectures with parameter and tunable-unit counts");
  cmd->callback(print_models);
}

void add_forward_command(CLI::App& app) {
  auto options = std::make_shared<ForwardOptions>();
  auto* cmd = app.add_subcommand("forward", "eval-mode logits of a model for an input tensor (safetensors in/out)");
  cmd->add_option("--model", options->model, "architecture (see `aft models`)")->required();
  cmd->add_option("--weights", options->weights, "weights, safetensors (torchvision or timm names)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", options->input, "safetensors file with a float tensor `input` [N, 3, H, W]")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", options->output, "safetensors file to write with the tensor `logits`")->required();
  cmd->add_option("--num-classes", options->num_classes, "classes; 0 = from the weights' head")->capture_default_str();
  cmd->add_option("--stem", options->stem, "ResNet stem (default: the weights' metadata, else imagenet)")
      ->check(CLI::IsMember({"imagenet", "small"}))
      ->capture_default_str();
  cmd->add_option("--width", options->width, "ResNet width multiplier (default: the weights' metadata, else 1)")
      ->capture_default_str();
  cmd->add_option("--image-size", options->image_size, "ViT image size; 0 = the input's height")->capture_default_str();
  cmd->callback([options, cmd] { run_forward(*options, *cmd); });
}

}  // namespace aft::cli
