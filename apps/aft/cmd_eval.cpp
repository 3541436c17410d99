// aft eval / aft predict: reopen a finished run (or plain weights) and use it.
#include <torch/torch.h>

#include <iomanip>
#include <iostream>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_decode.h"
#include "aft/data/loader.h"
#include "aft/run/job.h"
#include "aft/train/evaluate.h"
#include "aft/train/run_dir.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct EvalArgs {
  std::string run, model, weights, data, split = "test", transform = "auto";
  int64_t batch_size = 128;
  train::RuntimeOptions runtime;
  std::unique_ptr<FlagBinder> runtime_flags;
  bool json = false;
};

void run_eval(const EvalArgs& a) {
  a.runtime.apply();
  check(!a.run.empty() || !a.weights.empty(), "aft eval: give --run RUN, or --weights W with --data DIR");
  std::string root = a.data;
  nlohmann::json run_config;
  if (!a.run.empty()) {
    run_config = train::read_finished_config(a.run);
    if (root.empty()) root = run_config.at("data").get<std::string>();
  }
  check(!root.empty(), "aft eval: --data is required with --weights");
  check_choice("--split", a.split, {"test", "val"});
  // A run's own splits (its validation fraction, seed, shots, --skip-bad), so that --split val is
  // the split it validated on; plain weights: the data's default splits.
  data::DataOptions data_options;
  data_options.root = root;
  const auto splits = run_config.is_null() ? data::open_splits(data_options) : run::reopen_splits(run_config, root);
  auto loaded = a.run.empty() ? run::load_weights_for_eval(a.model, a.weights, splits, a.transform, a.runtime.device)
                              : run::load_run(a.run, a.runtime.device);
  check(loaded.classes == splits.classes, "the data's classes differ from the ones the model was trained on (",
        splits.classes.size(), " vs ", loaded.classes.size(), ")");
  data::LoaderOptions lo;
  lo.batch_size = a.batch_size;
  lo.threads = static_cast<int>(a.runtime.workers);
  const bool test = a.split == "test";
  data::Loader loader(test ? splits.test : splits.train, test ? splits.test_indices : splits.val_indices,
                      loaded.eval_transform, lo);
  const auto r = train::evaluate(*loaded.method, loader, parse_device(a.runtime.device));
  if (a.json) {
    nlohmann::json out = {{"split", a.split}, {"accuracy", r.accuracy}, {"loss", r.loss}, {"samples", r.samples}};
    out["metrics"] = r.metrics.to_json();
    std::cout << out.dump() << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4) << a.split << " accuracy " << r.accuracy << "  top-5 "
              << r.metrics.top5_accuracy() << "  loss " << r.loss << "  ECE " << r.metrics.expected_calibration_error()
              << "  (" << r.samples << " images)" << std::endl;
  }
}

struct PredictArgs {
  std::string run, model, weights, transform = "auto";
  std::vector<std::string> images;
  int64_t topk = 5;
  train::RuntimeOptions runtime;
  std::unique_ptr<FlagBinder> runtime_flags;
  bool json = false;
};

void run_predict(const PredictArgs& a) {
  check(a.topk >= 1, "--topk ", a.topk, ": must be >= 1");
  a.runtime.apply();
  check(a.run.empty() != a.weights.empty(), "aft predict: give --run RUN or --weights W (one of them)");
  auto loaded = a.run.empty() ? run::load_weights_for_predict(a.model, a.weights, a.transform, a.runtime.device)
                              : run::load_run(a.run, a.runtime.device);
  std::vector<torch::Tensor> inputs;
  data::Rng rng(0);
  for (const auto& path : a.images) {
    const auto image = data::decode_image(fs::read_file(path), path, loaded.eval_transform->output_size());
    inputs.push_back(loaded.eval_transform->apply(image, rng));
  }
  torch::NoGradGuard no_grad;
  const auto probs = torch::softmax(loaded.method->predict(torch::stack(inputs).to(parse_device(a.runtime.device))), 1).cpu();
  const int64_t k = std::min<int64_t>(a.topk, probs.size(1));
  const auto top = probs.topk(k, 1);
  const auto values = std::get<0>(top), indices = std::get<1>(top);
  nlohmann::json all = nlohmann::json::array();
  for (size_t i = 0; i < a.images.size(); ++i) {
    nlohmann::json row = {{"image", a.images[i]}, {"top", nlohmann::json::array()}};
    if (!a.json) std::cout << a.images[i] << "\n";
    for (int64_t j = 0; j < k; ++j) {
      const auto cls = loaded.classes.at(indices[i][j].item<int64_t>());
      const double p = values[i][j].item<double>();
      row["top"].push_back({{"class", cls}, {"probability", p}});
      if (!a.json) std::cout << "  " << std::fixed << std::setprecision(4) << p << "  " << cls << "\n";
    }
    all.push_back(row);
  }
  if (a.json) std::cout << all.dump() << std::endl;
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  auto e = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "accuracy of a finished run, or of weights, on a dataset split");
  eval->add_option("--run", e->run, "finished run directory");
  eval->add_option("--model", e->model, "architecture (with --weights; default from metadata)");
  eval->add_option("--weights", e->weights, "weights .safetensors (instead of --run)");
  eval->add_option("--data", e->data, "dataset (default: the run's)");
  eval->add_option("--split", e->split, "test|val")->capture_default_str();
  eval->add_option("--transform", e->transform, "data preset with --weights")->capture_default_str();
  eval->add_option("--batch-size", e->batch_size, "batch size")->capture_default_str();
  e->runtime_flags = std::make_unique<FlagBinder>(*eval, "Runtime");
  e->runtime.visit(*e->runtime_flags);
  eval->add_flag("--json", e->json, "print JSON");
  eval->callback([e]() { run_eval(*e); });

  auto p = std::make_shared<PredictArgs>();
  auto* predict = app.add_subcommand("predict", "top-k classes of images with a finished run or pretrained weights");
  predict->add_option("--run", p->run, "finished run directory");
  predict->add_option("--weights", p->weights, "weights .safetensors with their own head (instead of --run)");
  predict->add_option("--model", p->model, "architecture (with --weights; default from metadata)");
  predict->add_option("--transform", p->transform, "data preset with --weights (auto: the weights' own)")
      ->capture_default_str();
  predict->add_option("images", p->images, "image files")->required();
  predict->add_option("--topk", p->topk, "classes to show per image")->capture_default_str();
  p->runtime_flags = std::make_unique<FlagBinder>(*predict, "Runtime");
  p->runtime.visit(*p->runtime_flags);
  predict->add_flag("--json", p->json, "print JSON");
  predict->callback([p]() { run_predict(*p); });
}

std::string method_from_argv(int argc, char** argv) {
  std::string resume;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--method" && i + 1 < argc) return argv[i + 1];
    if (arg.rfind("--method=", 0) == 0) return arg.substr(9);
    if (arg == "--resume" && i + 1 < argc) resume = argv[i + 1];
    if (arg.rfind("--resume=", 0) == 0) resume = arg.substr(9);
  }
  // `--resume RUN` alone: RUN's own method, so that its flags (e.g. --rank) can be given again.
  // An unreadable config.json is reported by the resume itself.
  if (!resume.empty()) {
    try {
      const auto config = fs::read_json(resume + "/config.json");
      if (config.is_object() && config.contains("method") && config.at("method").is_string()) {
        return config.at("method").get<std::string>();
      }
    } catch (const std::exception&) {
    }
  }
  return "full";
}

}  // namespace aft::cli
