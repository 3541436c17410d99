// aft demo: the whole pipeline on data Debian ships. Prepares Fashion-MNIST and a glyph task
// (cached), pretrains a small source ResNet on Fashion-MNIST (cached), fine-tunes it on the
// glyphs with every method, trains the same network from scratch, and prints a table.
#include <iomanip>
#include <iostream>

#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/data/generators.h"
#include "aft/run/job.h"
#include "aft/methods/registry.h"
#include "aft/report/html_report.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct DemoArgs {
  std::string dir = "aft-demo";
  int64_t epochs = 3;
  int64_t pretrain_epochs = 3;
  int64_t seed = 0;
  train::RuntimeOptions runtime;
};

run::JobSpec demo_job(const DemoArgs& a, const std::string& command, const std::string& data, const std::string& out) {
  run::JobSpec spec;
  spec.command = command;
  spec.data = data;
  spec.out = out;
  spec.overwrite = true;
  static_cast<train::RuntimeOptions&>(spec.train) = a.runtime;
  spec.train.seed = a.seed;
  spec.train.epochs = a.epochs;
  spec.train.lr = 0.05;
  spec.train.batch_size = 64;
  spec.train.schedule = "cosine";
  return spec;
}

void run_demo(const DemoArgs& a) {
  const std::string data_dir = a.dir + "/data", runs = a.dir + "/runs";
  fs::create_directories(data_dir);
  const std::string fmnist = data_dir + "/fashion-mnist", glyphs = data_dir + "/glyphs";
  if (!fs::exists(fmnist)) {
    log::info("demo: writing a Fashion-MNIST subset to " + fmnist);
    data::FashionMnistExportOptions o;
    o.out = fmnist;
    o.per_class = 300;
    o.test_per_class = 100;
    data::export_fashion_mnist(o);
  }
  if (!fs::exists(glyphs)) {
    log::info("demo: rendering the glyph task to " + glyphs);
    data::GlyphOptions o;
    o.out = glyphs;
    o.per_font = 1;
    o.seed = static_cast<uint64_t>(a.seed);
    data::write_glyphs(o);
  }
  // Source models are the demo's small ResNet pretrained on a source task, cached.
  auto pretrain_source = [&](const std::string& data, const std::string& out, const std::string& what) {
    if (fs::exists(out + "/summary.json")) {
      log::info("demo: using the cached source model " + out);
      return;
    }
    log::info("demo: pretraining a source model on " + what);
    auto spec = demo_job(a, "pretrain", data, out);
    spec.model.model = "resnet18";
    spec.model.stem = "small";
    spec.model.width = 0.25;
    spec.train.epochs = a.pretrain_epochs;
    run::run_job(spec);
  };
  const std::string source = runs + "/source";
  pretrain_source(fmnist, source, "Fashion-MNIST");
  // The multi-source method's second source: the same network pretrained on glyphs of other
  // characters (lower case and digits) in the same fonts.
  const std::string other_glyphs = data_dir + "/glyphs-other", source2 = runs + "/source-glyphs";
  if (!fs::exists(other_glyphs)) {
    log::info("demo: rendering glyphs of other characters to " + other_glyphs);
    data::GlyphOptions o;
    o.out = other_glyphs;
    o.chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    o.per_font = 1;
    o.seed = static_cast<uint64_t>(a.seed) + 1;
    data::write_glyphs(o);
  }
  pretrain_source(other_glyphs, source2, "glyphs of other characters");

  struct Row {
    std::string name;
    nlohmann::json summary;
  };
  std::vector<Row> rows;
  {
    log::info("demo: training the same network from scratch on the glyphs (the baseline to beat)");
    auto spec = demo_job(a, "pretrain", glyphs, runs + "/scratch");
    spec.model.model = "resnet18";
    spec.model.stem = "small";
    spec.model.width = 0.25;
    rows.push_back({"scratch", run::run_job(spec)});
  }
  for (const auto& info : methods::registry()) {
    log::info("demo: fine-tuning with " + info.name);
    auto spec = demo_job(a, "finetune", glyphs, runs + "/" + info.name);
    spec.method = info.name;
    spec.method_options = info.make_options();
    if (info.demo_budget) info.demo_budget(*spec.method_options);
    if (info.set_sources) {
      info.set_sources(*spec.method_options, {source, source2});
    } else {
      spec.model.weights = source;
    }
    rows.push_back({info.name, run::run_job(spec)});
  }

  std::cout << "\nSource: resnet18 (small stem, width 0.25) pretrained on Fashion-MNIST; target: "
            << "26 printed letters, test fonts unseen in training.\nmultisource adds a second source pretrained on "
            << "lower-case letters and digits.\n\n"
            << std::left << std::setw(12) << "method" << std::right << std::setw(10) << "test acc" << std::setw(10)
            << "val acc" << std::setw(14) << "trainable" << std::setw(10) << "seconds" << "\n";
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(12) << r.name << std::right << std::fixed << std::setprecision(4)
              << std::setw(10) << r.summary.at("test_accuracy").get<double>() << std::setw(10)
              << r.summary.at("best_val_accuracy").get<double>() << std::setw(14)
              << r.summary.at("trainable_params").get<int64_t>() << std::setprecision(1) << std::setw(10)
              << r.summary.at("seconds").get<double>() << "\n";
  }
  std::cout << "\nRuns (config.json, summary.json, metrics.jsonl, model.safetensors) are in " << runs << "/"
            << std::endl;
  std::vector<std::string> run_dirs = {source, source2};
  for (const auto& r : rows) run_dirs.push_back(runs + "/" + r.name);
  report::write_report(run_dirs, a.dir + "/report.html");
  std::cout << "Report (curves, what each method tuned, comparison): " << a.dir << "/report.html" << std::endl;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  auto* sub = app.add_subcommand("demo", "the whole pipeline on Fashion-MNIST -> printed glyphs, every method");
  sub->add_option("--dir", a->dir, "where data and runs go (data and source model are cached)")->capture_default_str();
  sub->add_option("--epochs", a->epochs, "fine-tuning epochs per method")->capture_default_str();
  sub->add_option("--pretrain-epochs", a->pretrain_epochs, "source pretraining epochs")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed")->capture_default_str();
  auto runtime_flags = std::make_shared<FlagBinder>(*sub, "Runtime");
  a->runtime.visit(*runtime_flags);
  sub->callback([a, runtime_flags]() { run_demo(*a); });
}

}  // namespace aft::cli
