// make_soup: ingredients in, one run directory out. Ingredients and soups are evaluated with the
// same evaluate() the Trainer uses; selection (greedy) looks at validation only, and the test
// split is evaluated once per model for the report.
#include "aft/run/soup_run.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/core/version.h"
#include "aft/data/loader.h"
#include "aft/data/splits.h"
#include "aft/data/transforms.h"
#include "aft/methods/baselines.h"
#include "aft/methods/soup.h"
#include "aft/models/safetensors.h"
#include "aft/run/job.h"
#include "aft/train/evaluate.h"
#include "aft/train/run_dir.h"

namespace aft::run {

using namespace aft::methods;  // the recipe's pieces (soup.h)
namespace {

// The ingredients' model, loaded with one state at a time.
class SoupModel {
 public:
  SoupModel(const nlohmann::json& config, const SoupSpec& spec) : device_(parse_device(spec.runtime.device)) {
    check(config.at("model").is_object(), "soup: the ingredients were made by --method ", config.value("method", "?"),
          ", which builds several models of its own; a soup averages runs of one architecture");
    model_ = models::build_model(models::ModelConfig::from_json(config.at("model")));
    method_ = full_method().create(NoOptions());
    method_->attach(model_);
    splits_ = reopen_splits(config, spec.data);
    check(splits_.classes == config.at("classes").get<std::vector<std::string>>(), "soup: the classes of --data ",
          spec.data, " differ from the ingredients' (", splits_.classes.size(), " vs ", config.at("classes").size(), ")");
    check(!splits_.val_indices.empty() || spec.mode != "greedy",
          "soup --mode greedy selects by validation accuracy, but the ingredients were trained with no validation split");
    const auto& tf = config.at("transform");
    const auto transform = data::make_preset(tf.at("preset").get<std::string>(), false, tf.at("size").get<int64_t>());
    data::LoaderOptions lo;
    lo.batch_size = spec.batch_size;
    lo.threads = static_cast<int>(spec.runtime.workers);
    val_ = std::make_unique<data::Loader>(splits_.train, splits_.val_indices, transform, lo);
    test_ = std::make_unique<data::Loader>(splits_.test, splits_.test_indices, transform, lo);
    // Recalibration sees the training images as evaluation does (no augmentation).
    train_ = std::make_unique<data::Loader>(splits_.train, splits_.train_indices, transform, lo);
    model_->to(device_);
  }

  void load(const models::TensorMap& state, const std::string& source) {
    model_->to(torch::kCPU);
    models::load_state_dict(*model_, state, {}, source);
    model_->to(device_);
  }
  models::TensorMap state() const { return models::state_dict(*model_); }
  std::map<std::string, std::string> metadata() const { return models::model_metadata(*model_); }
  double accuracy(bool test) {
    auto& loader = test ? *test_ : *val_;
    if (test ? splits_.test_indices.empty() : splits_.val_indices.empty()) return -1;
    return train::evaluate(*method_, loader, device_, "off", false, test ? "test" : "val").accuracy;
  }

  // Recomputes the statistics of the named batch norms (cumulative average over one pass);
  // every other module stays in eval mode, so untouched statistics stay bit-identical.
  void recalibrate_bn(const std::set<std::string>& names) {
    if (names.empty()) return;
    torch::NoGradGuard no_grad;
    model_->eval();
    std::vector<torch::nn::BatchNorm2dImpl*> bns;
    for (const auto& m : model_->named_modules("", false)) {
      auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.value().get());
      if (!bn || !names.count(m.key())) continue;
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);
      bn->train();
      bns.push_back(bn);
    }
    train_->start_epoch(0);
    data::Batch batch;
    while (train_->next(batch)) model_->forward(batch.images.to(device_));
    for (auto* bn : bns) {
      bn->options.momentum(0.1);
      bn->eval();
    }
  }

 private:
  torch::Device device_;
  models::ModelPtr model_;
  MethodPtr method_;
  data::Splits splits_;
  std::unique_ptr<data::Loader> val_, test_, train_;
};

// Batch norms whose running statistics differ between the members: averaging only approximates
// those; the others were frozen in every member and keep their exact statistics.
std::set<std::string> averaged_bns(const std::vector<const models::TensorMap*>& members) {
  std::set<std::string> out;
  const std::string suffix = ".running_mean";
  for (const auto& [key, tensor] : *members.front()) {
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string base = key.substr(0, key.size() - suffix.size());
    for (const auto* m : members) {
      if (!torch::equal(m->at(key), tensor) || !torch::equal(m->at(base + ".running_var"), members.front()->at(base + ".running_var"))) {
        out.insert(base);
        break;
      }
    }
  }
  return out;
}

}  // namespace

nlohmann::json make_soup(const SoupSpec& in) {
  const auto start = std::chrono::steady_clock::now();
  SoupSpec spec = in;
  check_choice("--mode", spec.mode, {"uniform", "greedy"});
  check(!spec.out.empty(), "soup: --out is required");
  check(!spec.runs.empty(), "soup: --runs needs at least one finished run");
  spec.runtime.apply();
  log::set_quiet(spec.quiet);

  // The ingredients and the data are inputs: a soup never replaces them, nor a folder aft did
  // not write. It is built beside --out and swapped in whole (aft/core/output_dir.h).
  std::vector<std::string> inputs = spec.runs;
  inputs.push_back(spec.data);
  PrivateBuild out_dir(spec.out, train::run_dir_kind(), spec.overwrite, inputs);
  std::vector<Ingredient> ingredients;
  for (const auto& run : spec.runs) ingredients.push_back(read_ingredient(run));
  check_ingredients(ingredients);
  const auto& base = ingredients.front().config;
  if (spec.data.empty()) spec.data = base.at("data").get<std::string>();
  SoupModel soup(base, spec);
  bool has_bn = false;
  for (const auto& [key, t] : ingredients.front().state) has_bn = has_bn || key.find("running_mean") != std::string::npos;
  if (spec.recalibrate_bn && !has_bn) log::info("soup: the model has no batch norm; --recalibrate-bn does nothing");

  nlohmann::json rows = nlohmann::json::array();
  std::vector<double> val;
  for (const auto& ing : ingredients) {
    soup.load(ing.state, ing.run);
    val.push_back(soup.accuracy(false));
    rows.push_back({{"run", ing.run}, {"method", ing.config.value("method", "")},
                    {"method_options", ing.config.value("method_options", nlohmann::json::object())},
                    {"val_accuracy", val.back()}, {"test_accuracy", soup.accuracy(true)}});
    log::info("soup: ingredient " + ing.run + " val accuracy " + std::to_string(val.back()));
  }
  // The state of a soup of `members`, with recalibrated batch norms when asked (only for real
  // mixtures: a soup of one is the ingredient, statistics included).
  const auto build = [&](const std::vector<size_t>& members) {
    std::vector<const models::TensorMap*> states;
    for (size_t i : members) states.push_back(&ingredients[i].state);
    auto state = average_states(states);
    soup.load(state, "soup");
    if (spec.recalibrate_bn && members.size() > 1) {
      soup.recalibrate_bn(averaged_bns(states));
      state = soup.state();
    }
    return state;
  };
  std::vector<size_t> members(ingredients.size());
  for (size_t i = 0; i < members.size(); ++i) members[i] = i;
  nlohmann::json greedy_steps;
  if (spec.mode == "greedy") {
    const auto g = greedy_soup(val, [&](const std::vector<size_t>& m) {
      build(m);
      return soup.accuracy(false);
    });
    members = g.kept;
    greedy_steps = g.steps;
  }
  const auto state = build(members);
  const double soup_val = soup.accuracy(false), soup_test = soup.accuracy(true);
  std::vector<std::string> kept;
  for (size_t i : members) {
    kept.push_back(ingredients[i].run);
    rows[i]["kept"] = true;
  }
  for (auto& row : rows) {
    if (!row.contains("kept")) row["kept"] = false;
  }
  int64_t identical = 0, total_params = 0;
  for (const auto& [key, t] : state) {
    total_params += key.find("running_") == std::string::npos && key.find("num_batches") == std::string::npos ? t.numel() : 0;
    bool same = true;
    for (const auto& ing : ingredients) same = same && torch::equal(ing.state.at(key), ingredients.front().state.at(key));
    identical += same;
  }

  // Everything is written into a temporary directory and renamed into place at the end.
  const std::string& tmp = out_dir.dir();
  nlohmann::json config = base;
  config["command"] = "soup";
  config["aft_version"] = version();
  config["libtorch_version"] = libtorch_version();
  config["device"] = parse_device(spec.runtime.device).str();
  config["data"] = spec.data;
  config["method"] = "full";  // a soup is a plain model: eval/predict open it as one
  config["method_options"] = nlohmann::json::object();
  config["soup"] = {{"mode", spec.mode}, {"runs", spec.runs}, {"recalibrate_bn", spec.recalibrate_bn}};
  fs::write_json_atomic(tmp + "/config.json", config);
  auto meta = soup.metadata();
  meta["aft.method"] = "soup";
  meta["aft.classes"] = base.at("classes").dump();
  safetensors::write(tmp + "/model.safetensors", state, meta);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json report = {{"mode", spec.mode}, {"recalibrate_bn", spec.recalibrate_bn}, {"ingredients", rows},
                           {"kept", kept}, {"identical_tensors", identical}, {"tensors", state.size()}};
  if (!greedy_steps.is_null()) report["greedy_steps"] = greedy_steps;
  nlohmann::json summary = {{"method", "soup"},
                            {"model", base.at("model").at("arch")},
                            {"test_accuracy", soup_test},
                            {"best_val_accuracy", soup_val},
                            {"val_accuracy", soup_val},
                            {"trainable_params", 0},
                            {"total_params", total_params},
                            {"seconds", seconds},
                            {"images_per_second", 0.0},
                            {"method_report", report}};
  fs::write_json_atomic(tmp + "/summary.json", summary);
  out_dir.install();
  return summary;
}

}  // namespace aft::run
