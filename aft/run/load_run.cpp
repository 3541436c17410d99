#include "aft/run/load_run.h"

#include <torch/torch.h>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/methods/baselines.h"
#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "aft/models/source.h"
#include "aft/models/weights.h"
#include "aft/run/run_data.h"
#include "aft/train/checkpoint.h"
#include "aft/train/run_dir.h"

namespace aft::run {

namespace {

// A model used as it is: the full method around it, on the device, in eval mode.
methods::MethodPtr plain_method_for_eval(const models::ModelPtr& model, const std::string& device) {
  auto method = methods::find_method("full").create(methods::NoOptions());
  method->attach(model);
  model->to(parse_device(device));
  method->set_training(false);
  return method;
}

}  // namespace

LoadedRun load_weights_for_eval(const std::string& arch, const std::string& weights_in, const data::Splits& splits,
                                 const std::string& transform, const std::string& device) {
  const std::string weights = models::resolve_weights_path(weights_in);
  const auto meta = safetensors::read(weights).metadata;
  models::ModelOptions model_options;
  model_options.model = arch;
  const auto classes_found = meta.count("num_classes") ? parse_integer(meta.at("num_classes")) : std::nullopt;
  const int64_t classes = classes_found.value_or(0);
  check(classes > 0, weights, ": metadata names no num_classes; cannot size the head");
  check(classes == static_cast<int64_t>(splits.classes.size()), weights, " has a ", classes, "-class head but the data has ",
        splits.classes.size(), " classes");
  train::TrainOptions train;
  train.transform = transform;
  const auto tf = resolve_transform(train, splits, models::resolve_arch(model_options, weights));
  LoadedRun out;
  out.eval_transform = data::make_preset(tf.preset, false, tf.size);
  auto model = models::build_model(models::resolve_model_config(model_options, weights, classes, out.eval_transform->output_size()));
  models::load_weights(*model, weights, {});
  out.classes = splits.classes;
  out.method = plain_method_for_eval(model, device);
  return out;
}

LoadedRun load_weights_for_predict(const std::string& arch, const std::string& weights_in, const std::string& transform,
                                   const std::string& device) {
  const std::string weights = models::resolve_weights_path(weights_in);
  const auto meta = safetensors::read(weights).metadata;
  models::ModelOptions model_options;
  model_options.model = arch;
  const std::string resolved = models::resolve_arch(model_options, weights);
  const auto classes = meta.count("num_classes") ? parse_integer(meta.at("num_classes")) : std::nullopt;
  check(classes && *classes > 0, weights, ": metadata names no num_classes; cannot size the head");
  LoadedRun out;
  if (meta.count("classes")) {
    try {
      out.classes = nlohmann::json::parse(meta.at("classes")).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail(weights, ": metadata 'classes' is not a JSON list of names (", e.what(), ")");
    }
    check(static_cast<int64_t>(out.classes.size()) == *classes, weights, ": metadata names ", out.classes.size(),
          " classes for a ", *classes, "-class head");
  } else {
    for (int64_t c = 0; c < *classes; ++c) out.classes.push_back(std::to_string(c));
  }
  std::string preset = transform;
  int64_t size = 0;
  if (preset == "auto") {
    // No data to look at: the recipe the architecture's weights were made with, at their size.
    preset = models::input_normalization(resolved) == "inception" ? "lite" : "imagenet224";
    if (meta.count("image_size")) size = parse_integer(meta.at("image_size")).value_or(0);
  }
  out.eval_transform = data::make_preset(preset, false, size);
  auto model = models::build_model(models::resolve_model_config(model_options, weights, *classes, out.eval_transform->output_size()));
  models::load_weights(*model, weights, {});
  out.method = plain_method_for_eval(model, device);
  return out;
}

LoadedRun load_run(const std::string& run, const std::string& device) {
  LoadedRun out;
  out.config = train::read_finished_config(run);
  const auto& cfg = out.config;
  out.classes = cfg.at("classes").get<std::vector<std::string>>();
  // A race's run names its winner's method and options as its own; runs from before that named
  // them under "winner".
  const auto& made_by = cfg.contains("winner") ? cfg.at("winner") : cfg;
  auto info = methods::find_method(made_by.at("method").get<std::string>());
  auto options = info.make_options();
  options_from_json(*options, made_by.at("method_options"), true, run + "/config.json");
  out.method = info.create(*options);
  const auto& tf = cfg.at("transform");
  out.eval_transform = data::make_preset(tf.at("preset").get<std::string>(), false, tf.at("size").get<int64_t>());
  if (out.method->builds_own_model()) {
    out.method->build_own_model({static_cast<int64_t>(out.classes.size()), out.eval_transform->output_size(), false, 0});
  } else {
    out.method->attach(models::build_model(models::ModelConfig::from_json(cfg.at("model"))));
  }
  train::load_module_state(*out.method->module(), run + "/model.safetensors");
  out.method->module()->to(parse_device(device));
  out.method->set_training(false);
  return out;
}

}  // namespace aft::run
