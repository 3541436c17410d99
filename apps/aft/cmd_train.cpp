// aft pretrain / aft finetune: train into a run directory through run::run_job.
#include <iomanip>
#include <iostream>

#include "aft/core/device.h"
#include "aft/dist/env.h"
#include "aft/dist/process_group.h"
#include "aft/run/job.h"
#include "aft/methods/registry.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct TrainCommand {
  run::JobSpec spec;
  std::string preset;
  dist::DistOptions dist;
  std::unique_ptr<FlagBinder> train_flags, model_flags, method_flags, dist_flags;
};

void print_summary(const nlohmann::json& s, const std::string& out) {
  std::cout << std::fixed << std::setprecision(4) << "method " << s.at("method").get<std::string>();
  if (s.contains("chosen")) std::cout << " (chose " << s.at("chosen").get<std::string>() << ")";
  std::cout << "  model " << s.at("model").get<std::string>() << "\n"
            << "test accuracy " << s.at("test_accuracy").get<double>() << " (top-5 "
            << s.value("test_top5_accuracy", -1.0) << ", ECE " << s.value("test_ece", -1.0) << ")";
  // A run with no validation split (auto's retraining on every image) has no best epoch.
  if (s.at("best_val_accuracy").get<double>() >= 0) {
    std::cout << "  best val accuracy " << s.at("best_val_accuracy").get<double>() << " (epoch " << s.at("best_epoch") << ")";
  }
  if (s.contains("budget_spent")) std::cout << "  budget spent " << std::setprecision(2) << s.at("budget_spent").get<double>();
  std::cout << std::setprecision(4) << "\n"
            << "trainable params " << s.at("trainable_params") << " / " << s.at("total_params") << "  "
            << std::setprecision(1) << s.at("seconds").get<double>() << " s, " << s.at("images_per_second").get<double>()
            << " img/s\n"
            << "run: " << out << std::endl;
  // Methods that chose something (ratios, units, routes) render it as a compact table.
  const auto& report = s.at("method_report");
  if (report.is_object() && report.contains("table")) std::cout << "\n" << report.at("table").get<std::string>() << std::endl;
}

void add_command(CLI::App& app, const std::string& name, const std::string& method_hint) {
  const bool pretrain = name == "pretrain";
  auto* sub = app.add_subcommand(name, pretrain ? "train a source model from scratch into a run directory"
                                                : "fine-tune pretrained weights on a target dataset");
  auto cmd = std::make_shared<TrainCommand>();
  cmd->spec.command = name;
  cmd->spec.method = pretrain ? "full" : method_hint;
  sub->add_option("--data", cmd->spec.data,
                  "dataset: DIR with train/ and test/ (or val/), or fashion-mnist (required unless --resume)");
  sub->add_option("--out", cmd->spec.out, "run directory to write");
  sub->add_flag("--overwrite", cmd->spec.overwrite, "replace an existing run in --out");
  sub->add_option("--resume", cmd->spec.resume,
                  "continue the interrupted run in this directory (data, model and options come from its config.json)");
  std::string presets;
  for (const auto& name : train::preset_names()) presets += (presets.empty() ? "" : "|") + name;
  sub->add_option("--preset", cmd->preset, "named recipe (" + presets + "); explicit flags override it");
  sub->add_flag("--quiet", cmd->spec.quiet, "no progress output");
  cmd->model_flags = std::make_unique<FlagBinder>(*sub, "Model");
  cmd->spec.model.visit(*cmd->model_flags);
  cmd->train_flags = std::make_unique<FlagBinder>(*sub, "Training");
  cmd->spec.train.visit(*cmd->train_flags);
  cmd->dist_flags = std::make_unique<FlagBinder>(*sub, "Multi-process (torchrun / srun / RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  cmd->dist.visit(*cmd->dist_flags);
  if (!pretrain) {
    std::string methods_list;
    for (const auto& m : methods::registry()) methods_list += (methods_list.empty() ? "" : "|") + m.name;
    sub->add_option("--method", cmd->spec.method, "fine-tuning method: " + methods_list)->capture_default_str();
    // Only the chosen method's options are registered, so `--method NAME --help` shows them.
    const auto* info = [&]() -> const methods::MethodInfo* {
      for (const auto& m : methods::registry()) if (m.name == method_hint) return &m;
      return nullptr;
    }();
    if (info) {
      cmd->spec.method_options = info->make_options();
      cmd->method_flags = std::make_unique<FlagBinder>(*sub, "Method " + info->name);
      cmd->spec.method_options->visit(*cmd->method_flags);
    }
  }
  sub->callback([cmd, sub]() {
    auto& spec = cmd->spec;
    methods::find_method(spec.method);  // unknown names fail here, listing the valid ones
    // Preset first, then the flags the user gave win over it.
    const auto given_json = options_to_json(spec.train);
    const auto given = cmd->train_flags->given();
    if (!cmd->preset.empty()) {
      train::apply_preset(spec.train, cmd->preset);
      for (const auto& key : given) options_from_json(spec.train, {{key, given_json.at(key)}}, true, "flags");
    }
    spec.explicit_flags = given;
    for (const auto& key : cmd->model_flags->given()) spec.explicit_flags.insert(key);
    if (cmd->method_flags) for (const auto& key : cmd->method_flags->given()) spec.explicit_flags.insert(key);
    if (spec.command == "finetune" && sub->count("--method")) spec.explicit_flags.insert("method");
    // Several processes when launched by torchrun/srun (or with RANK/WORLD_SIZE set): each runs the
    // whole job on its shard; rank 0 writes the run and prints.
    const auto env = dist::read_launch_env();
    if (env.distributed()) {
      spec.dist = dist::Group::create(env, cmd->dist, parse_device(dist::device_for_rank(spec.train.device, env.local_rank)));
    }
    const auto summary = run::run_job(spec);
    if (!spec.dist || spec.dist->is_main()) print_summary(summary, spec.out);
  });
}

}  // namespace

void add_train_commands(CLI::App& app, const std::string& method_hint) {
  add_command(app, "pretrain", "full");
  add_command(app, "finetune", method_hint);
}

void add_methods_command(CLI::App& app) {
  auto* sub = app.add_subcommand("methods", "list the fine-tuning methods");
  sub->callback([]() {
    for (const auto& m : methods::registry()) {
      std::cout << std::left << std::setw(14) << m.name << m.description << "\n";
    }
  });
}

}  // namespace aft::cli
