#include "aft/run/job.h"

#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <optional>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/core/output_dir.h"
#include "aft/core/parse.h"
#include "aft/core/version.h"
#include "aft/data/image_decode.h"
#include "aft/data/splits.h"
#include "aft/dist/env.h"
#include "aft/dist/process_group.h"
#include "aft/methods/baselines.h"
#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"
#include "aft/report/tb_writer.h"
#include "aft/train/checkpoint.h"
#include "aft/train/run_dir.h"
#include "aft/train/trainer.h"

namespace aft::run {
namespace {

// Flags that may change between an interrupted run and its resumption: the runtime ones.
const std::set<std::string>& runtime_keys() {
  static const std::set<std::string> keys = [] {
    train::RuntimeOptions defaults;
    const auto flags = options_to_json(defaults);
    std::set<std::string> out;
    for (auto it = flags.begin(); it != flags.end(); ++it) out.insert(it.key());
    return out;
  }();
  return keys;
}

}  // namespace

namespace {

nlohmann::json check_resume(JobSpec& spec, const nlohmann::json& stored) {
  // The stored configuration wins; a flag given again must agree with it.
  auto differs = [&](const nlohmann::json& now, const nlohmann::json& then) {
    for (auto it = now.begin(); it != now.end(); ++it) {
      if (!spec.explicit_flags.count(it.key()) || runtime_keys().count(it.key())) continue;
      check(then.contains(it.key()) && then.at(it.key()) == it.value(), "--resume ", spec.resume, ": --", it.key(),
            " ", it.value().dump(), " differs from the run's --", it.key(), " ",
            then.contains(it.key()) ? then.at(it.key()).dump() : "(unset)", " (flags given with --resume must agree with ",
            spec.resume, "/config.json)");
    }
  };
  check(stored.value("command", "") == spec.command, "--resume ", spec.resume, ": that run was made by aft ",
        stored.value("command", "?"), ", not ", spec.command);
  const std::string stored_method = stored.value("method", spec.method);
  if (spec.explicit_flags.count("method")) {
    check(stored_method == spec.method, "--resume ", spec.resume, ": --method ", spec.method,
          " differs from the run's method ", stored_method);
  }
  differs(options_to_json(spec.train), stored.at("train"));
  differs(options_to_json(spec.model), stored.at("model_options"));
  // The command line registered the run's own method's flags (the CLI reads the method from
  // RUN/config.json), so the ones given were parsed into spec.method_options: compare those.
  if (spec.method_options && spec.method == stored_method) {
    differs(options_to_json(*spec.method_options), stored.at("method_options"));
  }
  spec.method = stored_method;
  spec.method_options = methods::find_method(spec.method).make_options();
  auto runtime = options_to_json(spec.train);
  options_from_json(spec.train, stored.at("train"), true, spec.resume + "/config.json");
  for (const auto& key : runtime_keys()) {
    if (spec.explicit_flags.count(key)) options_from_json(spec.train, {{key, runtime.at(key)}}, true, "flags");
  }
  options_from_json(spec.model, stored.at("model_options"), true, spec.resume + "/config.json");
  options_from_json(*spec.method_options, stored.at("method_options"), true, spec.resume + "/config.json");
  // --resume RUN alone is enough; a --data given with it must name the run's own data.
  const std::string stored_data = stored.value("data", "");
  check(spec.data.empty() || spec.data == stored_data || (fs::exists(spec.data) && path_within(spec.data, stored_data) &&
                                                          path_within(stored_data, spec.data)),
        "--resume ", spec.resume, ": --data ", spec.data, " differs from the run's data ", stored_data);
  spec.data = stored_data;
  spec.out = spec.resume;
  return stored;
}

}  // namespace

namespace {

double memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0;
}

std::string gigabytes(double bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << bytes / 1e9 << " GB";
  return out.str();
}

// Before anything is allocated: the batches a step holds (the loader's, the augmented copy, the
// network's input and its first activations: 4 copies is far below what any model keeps) must
// fit in this machine's memory, or --image-size / --batch-size is refused in one line.
void check_step_memory(const JobSpec& spec, int64_t image_size) {
  const double memory = memory_bytes();
  const double need = 4.0 * static_cast<double>(spec.train.batch_size) * 3 * static_cast<double>(image_size) *
                      static_cast<double>(image_size) * sizeof(float);
  check(memory == 0 || need <= memory, "--image-size ", image_size, " with --batch-size ", spec.train.batch_size,
        ": a training step needs more than ", gigabytes(need), ", and this machine has ", gigabytes(memory),
        "; use a smaller --image-size or --batch-size");
}

}  // namespace

JobInputs open_job_inputs(const JobSpec& spec, bool own_model, const std::string& own_model_arch) {
  // --width is declared with the model's flags; 0 means "from the weights".
  check(std::isfinite(spec.model.width) && spec.model.width >= 0 && spec.model.width <= 8, "--width ",
        spec.model.width, ": must be in [0, 8] (0: from the weights, else a multiplier > 0)");
  JobInputs in;
  in.task = train::TrainData{data::open_splits(split_options(spec.data, spec.train)), nullptr, nullptr};
  in.weights = models::resolve_weights_path(spec.model.weights);
  const std::string arch = own_model ? own_model_arch : models::resolve_arch(spec.model, in.weights);
  in.transform = resolve_transform(spec.train, in.task.splits, arch);
  const auto& tf = in.transform;
  data::AugmentSpec augment;
  augment.policy = spec.train.augment;
  augment.num_ops = spec.train.ra_ops;
  augment.magnitude = spec.train.ra_magnitude;
  in.task.train_transform = data::make_preset(tf.preset, true, tf.size, augment);
  in.task.eval_transform = data::make_preset(tf.preset, false, tf.size);
  in.classes = static_cast<int64_t>(in.task.splits.classes.size());
  in.image_size = in.task.eval_transform->output_size();
  check_step_memory(spec, in.image_size);
  if (!own_model) {
    in.config = models::resolve_model_config(spec.model, in.weights, in.classes, in.image_size);
    check(spec.train.drop_path == 0 || in.config.arch.rfind("vit_", 0) == 0 ||
              in.config.arch.rfind("efficientnet_lite", 0) == 0,
          "--drop-path ", spec.train.drop_path, ": stochastic depth applies to ViTs and EfficientNets, not to ",
          in.config.arch);
    in.config.drop_path = spec.train.drop_path;
  } else {
    check(spec.train.drop_path == 0, "--drop-path ", spec.train.drop_path, ": --method ", spec.method,
          " builds its own models from its sources and applies no stochastic depth");
  }
  // Damaged weights are refused before the run directory exists (load_weights checks again).
  if (!in.weights.empty()) models::check_finite(safetensors::read(in.weights).tensors, in.weights);
  // Every model the job makes (searches included) starts from the same pretrained weights and,
  // through the seed, the same new head.
  if (!own_model) {
    in.fresh_model = [config = in.config, weights = in.weights, seed = static_cast<uint64_t>(spec.train.seed),
                      keep_head = spec.model.keep_head]() {
      torch::manual_seed(seed);
      auto m = models::build_model(config);
      if (!weights.empty()) {
        models::LoadOptions load;
        load.replace_head = !keep_head;
        models::load_weights(*m, weights, load);
      }
      return m;
    };
  }
  return in;
}

nlohmann::json job_config(JobSpec& spec, const JobInputs& in, const torch::Device& device, bool own_model) {
  return {{"command", spec.command},
          {"aft_version", version()},
          {"libtorch_version", libtorch_version()},
          {"device", device.str()},
          {"data", spec.data},
          {"data_splits", in.task.splits.describe()},
          {"classes", in.task.splits.classes},
          {"transform", {{"preset", in.transform.preset}, {"size", in.transform.size}}},
          {"weights", in.weights},
          {"model", own_model ? nlohmann::json(nullptr) : in.config.to_json()},
          {"model_options", options_to_json(spec.model)},
          {"method", spec.method},
          {"method_options", options_to_json(*spec.method_options)},
          {"train", options_to_json(spec.train)},
          {"processes", spec.dist ? spec.dist->world() : 1}};
}

void check_job(JobSpec& spec) {
  if (!spec.method_options) spec.method_options = methods::find_method(spec.method).make_options();
  if (!spec.resume.empty()) {
    check(spec.out.empty() || spec.out == spec.resume, "--resume ", spec.resume, " and --out ", spec.out,
          " name different runs");
    const std::string problem = train::run_dir_problem(spec.resume);
    check(problem.empty(), "--resume ", spec.resume, ": not an aft run directory to resume (", problem, ")");
    check_resume(spec, fs::read_json(spec.resume + "/config.json"));
  }
  spec.train.validate();
  spec.method_options->validate();
  check(!spec.data.empty(), "--data is required");
  check(!spec.out.empty(), "--out is required");
}

Job open_job(JobSpec& spec, const JobNeeds& needs) {
  const bool main_rank = !spec.dist || spec.dist->is_main();
  if (spec.dist) spec.train.device = dist::device_for_rank(spec.train.device, spec.dist->local_rank());
  Job job{spec, parse_device(spec.train.device)};  // a refused device fails before anything is written
  job.main_rank = main_rank;
  job.resuming = !spec.resume.empty();
  spec.train.apply();
  seed_everything(static_cast<uint64_t>(spec.train.seed));
  log::set_quiet(spec.quiet || !main_rank);
  job.in = open_job_inputs(spec, needs.own_model, needs.own_model_arch);
  // A method's checks against the model (adapter targets it lacks) run before the run directory exists.
  if (!needs.own_model && needs.check_model) needs.check_model(job.in.config);
  // Rank 0 alone owns the run directory; other ranks only read its checkpoint when resuming.
  std::vector<std::string> inputs = needs.inputs;
  inputs.push_back(spec.data);
  inputs.push_back(job.in.weights);
  inputs.push_back(spec.model.weights);  // a run directory given as --weights, not only its file
  if (main_rank) job.run = std::make_unique<train::RunDir>(spec.out, spec.overwrite, job.resuming, inputs);
  job.config = job_config(spec, job.in, job.device, needs.own_model);
  if (job.run && !job.resuming) job.run->write_config(job.config);
  return job;
}

nlohmann::json run_method(JobSpec& spec) {
  auto method = methods::find_method(spec.method).create(*spec.method_options);
  const bool own_model = method->builds_own_model();
  if (own_model) {
    check(spec.model.weights.empty() && spec.model.model.empty(), "--method ", spec.method,
          " builds its models from its own sources; --weights/--model are not used");
  } else if (spec.command == "finetune") {
    check(!spec.model.weights.empty(), "--weights is required to fine-tune");
  }
  JobNeeds needs;
  needs.own_model = own_model;
  needs.own_model_arch = own_model ? method->own_model_arch() : "";
  needs.inputs = method->inputs();
  needs.check_model = [&](const models::ModelConfig& config) { method->check_model(config); };
  Job job = open_job(spec, needs);
  const bool main_rank = job.main_rank, resuming = job.resuming;
  auto& task = job.in.task;
  const auto classes = job.in.classes;
  const auto image_size = job.in.image_size;
  const auto& config = job.in.config;
  const auto& fresh_model = job.in.fresh_model;
  train::RunDir* run = job.run.get();
  // What prepare() finds is saved at once: a resumed job restores it instead of searching
  // again, and a search killed midway replays its journal (RUN/search) up to where it stopped.
  methods::PrepareContext prepare{fresh_model, &task, &spec.train, run ? run->path() : "", spec.quiet || !main_rank,
                         classes, image_size, spec.dist};
  prepare.search_dir = spec.out + "/search";  // every rank reads the same journal; rank 0 writes it
  prepare.search_writer = main_rank;
  const std::string prepared_path = spec.out + "/prepared.json";
  const auto prepare_start = std::chrono::steady_clock::now();
  double prepare_seconds = 0;
  if (resuming && fs::exists(prepared_path)) {
    const auto saved = fs::read_json(prepared_path);
    try {
      method->restore_prepared(saved.at("state"), prepare);
    } catch (const nlohmann::json::exception& e) {
      fail(prepared_path, ": not what ", spec.method, " saved (", e.what(), ")");
    }
    prepare_seconds = saved.value("seconds", 0.0);
    log::info(spec.command + " " + spec.method + ": restored what prepare() found from " + prepared_path);
  } else {
    method->prepare(prepare);
    prepare_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - prepare_start).count();
    const auto state = method->prepared_state();
    if (run && !state.is_null()) {
      fs::write_json_atomic(prepared_path, {{"method", spec.method}, {"seconds", prepare_seconds}, {"state", state}});
    }
  }
  models::ModelPtr model;
  if (own_model) {
    method->build_own_model({classes, image_size, true, static_cast<uint64_t>(spec.train.seed)});
  } else {
    model = fresh_model();
    method->attach(model);
  }

  train::TrainerHooks hooks;
  hooks.label = spec.command + " " + spec.method;
  hooks.checkpoint_dir = run ? run->checkpoint_dir() : spec.out + "/checkpoint";  // RunDir's layout
  hooks.metrics_path = run ? run->file("metrics.jsonl") : "";
  if (run) hooks.tb = std::make_shared<report::TbWriter>(run->file("tb"));
  hooks.resume = resuming && train::has_checkpoint(hooks.checkpoint_dir);  // killed before epoch 1: start it
  hooks.quiet = spec.quiet || !main_rank;
  hooks.dist = spec.dist;
  train::Trainer trainer(*method, spec.train, task, hooks);
  train::TrainResult result;
  try {
    result = trainer.fit();
  } catch (const c10::Error& e) {
    // LibTorch's allocator failing: name the flags that set the size, not the allocator's line.
    const std::string what = e.what_without_backtrace();
    if (what.find("can't allocate memory") == std::string::npos && what.find("out of memory") == std::string::npos) {
      throw;
    }
    const auto tried = what.find("you tried to allocate");
    const std::string detail = tried == std::string::npos ? what.substr(0, what.find('\n'))
                                                          : what.substr(tried, what.find('.', tried) - tried);
    fail("out of memory training at --image-size ", image_size, " with --batch-size ", spec.train.batch_size, " (",
         detail, "); use a smaller --image-size, --batch-size or model");
  }

  auto meta = own_model ? method->own_model_metadata() : models::model_metadata(*model);
  meta["aft.method"] = spec.method;
  meta["aft.classes"] = nlohmann::json(task.splits.classes).dump();
  if (run) models::save_weights(*method->module(), run->file("model.safetensors"), meta);
  nlohmann::json summary = result_summary(result);
  summary.update({{"method", spec.method},
                  {"model", own_model ? meta.at("aft.model") : config.arch},
                  {"trainable_params", methods::count_params(*method->module(), true)},
                  {"total_params", methods::count_params(*method->module(), false)},
                  {"seconds", result.seconds + prepare_seconds},
                  {"prepare_seconds", prepare_seconds},
                  {"method_report", method->report()}});
  if (hooks.tb) {
    // The method's own numbers (PSO gbest per iteration, tuned-path usage, ...) beside the curves.
    report::write_json_scalars(*hooks.tb, "method", summary.at("method_report"));
    hooks.tb->flush();
  }
  if (run) run->write_summary(summary);
  return summary;
}

nlohmann::json result_summary(const train::TrainResult& result) {
  const auto test_metric = [&](const char* key) {
    return result.test_metrics.is_object() ? result.test_metrics.value(key, -1.0) : -1.0;
  };
  return {{"test_accuracy", result.test_accuracy},
          {"test_loss", result.test_loss},
          {"test_top5_accuracy", test_metric("top5_accuracy")},
          {"test_ece", test_metric("ece")},
          {"test_metrics", result.test_metrics},
          {"best_val_accuracy", result.best_val_accuracy},
          {"best_epoch", result.best_epoch},
          {"final_val_accuracy", result.final_val_accuracy},
          {"epochs", result.epochs_run},
          {"stopped_early", result.stopped_early},
          {"train_seconds", result.seconds},
          {"images_per_second", result.images_per_second},
          // Batch-norm re-estimation's passes and their seconds (part of train_seconds).
          {"bn_reestimates", result.bn_reestimates},
          {"bn_reestimate_seconds", result.bn_reestimate_seconds}};
}

}  // namespace aft::run
