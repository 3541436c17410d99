// aft demo: the whole pipeline on data Debian ships. With --weights and --data (what
// tools/demo.sh runs): a real ImageNet network (EfficientNet-Lite0) fine-tuned on a target with
// every method, beside the same network trained from scratch. Without them: prepares
// Fashion-MNIST and a glyph task (cached), pretrains a small source ResNet on Fashion-MNIST
// (cached), fine-tunes it on the glyphs with every method. Either way it prints a table.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/data/generators.h"
#include "aft/run/job.h"
#include "aft/methods/registry.h"
#include "aft/models/safetensors.h"
#include "aft/models/source.h"
#include "aft/report/html_report.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct DemoArgs {
  std::string dir = "aft-demo";
  std::string weights, data;          // a pretrained source and a target: the real-network demo
  std::vector<std::string> sources;   // multisource's further sources (with --weights)
  int64_t image_size = 0;
  int64_t shots = 0;
  int64_t batch_size = 64;
  double lr = 0.05;
  std::vector<std::string> methods;   // empty: every registered method
  int64_t epochs = 3;
  int64_t pretrain_epochs = 3;
  int64_t seed = 0;
  std::string bn_reestimate = "auto";  // --bn-reestimate for every run (docs/benchmarks.md: the demo before/after)
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
  spec.train.lr = a.lr;
  spec.train.batch_size = a.batch_size;
  spec.train.schedule = "cosine";
  spec.train.image_size = a.image_size;
  spec.train.shots = a.shots;
  spec.train.bn_reestimate = a.bn_reestimate;
  return spec;
}

struct Row {
  std::string name;
  nlohmann::json summary;
};

// Every registered method on `target`, from `weights` (multisource: from all of `sources`).
void fine_tune_all(const DemoArgs& a, const std::string& target, const std::string& weights,
                   const std::vector<std::string>& sources, std::vector<Row>& rows) {
  const std::string runs = a.dir + "/runs";
  for (const auto& name : a.methods) methods::find_method(name);  // an unknown name fails before any training
  for (const auto& info : methods::registry()) {
    if (!a.methods.empty() && std::find(a.methods.begin(), a.methods.end(), info.name) == a.methods.end()) continue;
    log::info("demo: fine-tuning with " + info.name);
    auto spec = demo_job(a, "finetune", target, runs + "/" + info.name);
    spec.method = info.name;
    spec.method_options = info.make_options();
    if (info.demo_budget) info.demo_budget(*spec.method_options);
    if (info.set_sources) {
      info.set_sources(*spec.method_options, sources);
    } else {
      spec.model.weights = weights;
    }
    rows.push_back({info.name, run::run_job(spec)});
  }
}

void print_table(const std::string& header, const std::vector<Row>& rows) {
  std::cout << "\n" << header << "\n\n"
            << std::left << std::setw(14) << "method" << std::right << std::setw(10) << "test acc" << std::setw(10)
            << "val acc" << std::setw(14) << "trainable" << std::setw(10) << "seconds" << "\n";
  for (const auto& r : rows) {
    // A run with no validation split (auto's retraining on every image) has no validation figure.
    const double val = r.summary.at("best_val_accuracy").get<double>();
    std::ostringstream val_text;
    if (val >= 0) {
      val_text << std::fixed << std::setprecision(4) << val;
    } else {
      val_text << "-";
    }
    std::cout << std::left << std::setw(14) << r.name << std::right << std::fixed << std::setprecision(4)
              << std::setw(10) << r.summary.at("test_accuracy").get<double>() << std::setw(10) << val_text.str()
              << std::setw(14)
              << r.summary.at("trainable_params").get<int64_t>() << std::setprecision(1) << std::setw(10)
              << r.summary.at("seconds").get<double>() << "\n";
  }
}

void write_demo_report(const DemoArgs& a, std::vector<std::string> run_dirs, const std::vector<Row>& rows) {
  const std::string runs = a.dir + "/runs";
  std::cout << "\nRuns (config.json, summary.json, metrics.jsonl, model.safetensors) are in " << runs << "/"
            << std::endl;
  for (const auto& r : rows) run_dirs.push_back(runs + "/" + r.name);
  report::write_report(run_dirs, a.dir + "/report.html");
  std::cout << "Report (curves, what each method tuned, comparison): " << a.dir << "/report.html" << std::endl;
}

// The real network: --weights on --data, every method, and the same architecture from scratch.
void run_real_demo(const DemoArgs& a) {
  check(!a.data.empty(), "aft demo --weights needs --data (tools/demo.sh makes one)");
  const auto weights = models::resolve_weights_path(a.weights);
  const auto meta = safetensors::read(weights).metadata;
  const std::string arch = meta.count("arch") ? meta.at("arch") : "";
  check(!arch.empty(), "aft demo: ", weights, " names no architecture in its metadata");
  std::vector<Row> rows;
  {
    log::info("demo: training " + arch + " from scratch on " + a.data + " (the baseline to beat)");
    auto spec = demo_job(a, "pretrain", a.data, a.dir + "/runs/scratch");
    spec.model.model = arch;
    rows.push_back({"scratch", run::run_job(spec)});
  }
  std::vector<std::string> sources = {weights};
  for (const auto& s : a.sources) sources.push_back(s);
  fine_tune_all(a, a.data, weights, sources, rows);
  std::string names;
  for (size_t i = 1; i < sources.size(); ++i) names += (names.empty() ? "" : ", ") + sources[i];
  print_table("Source: " + arch + " pretrained on ImageNet (" + weights + "); target: " + a.data +
                  (a.shots > 0 ? " (" + std::to_string(a.shots) + " training images per class)" : "") +
                  (names.empty() ? "" : ".\nmultisource adds " + names),
              rows);
  write_demo_report(a, {}, rows);
}

void run_demo(const DemoArgs& a) {
  if (!a.weights.empty()) return run_real_demo(a);
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

  std::vector<Row> rows;
  {
    log::info("demo: training the same network from scratch on the glyphs (the baseline to beat)");
    auto spec = demo_job(a, "pretrain", glyphs, runs + "/scratch");
    spec.model.model = "resnet18";
    spec.model.stem = "small";
    spec.model.width = 0.25;
    rows.push_back({"scratch", run::run_job(spec)});
  }
  fine_tune_all(a, glyphs, source, {source, source2}, rows);
  print_table("Source: resnet18 (small stem, width 0.25) pretrained on Fashion-MNIST; target: 26 printed letters, "
              "test fonts unseen in training.\nmultisource adds a second source pretrained on lower-case letters and "
              "digits.",
              rows);
  write_demo_report(a, {source, source2}, rows);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  auto* sub = app.add_subcommand(
      "demo", "every method on a real network (--weights, --data) or on Fashion-MNIST -> printed glyphs");
  sub->add_option("--dir", a->dir, "where data and runs go (data and source model are cached)")->capture_default_str();
  sub->add_option("--weights", a->weights, "a pretrained source (e.g. zoo/efficientnet_lite0.safetensors)");
  sub->add_option("--data", a->data, "the target dataset, with --weights");
  sub->add_option("--source", a->sources, "multisource's further sources, with --weights (repeatable)");
  sub->add_option("--image-size", a->image_size, "transform output size (0: the preset's)")->capture_default_str();
  sub->add_option("--shots", a->shots, "training images per class (0: all)")->capture_default_str();
  sub->add_option("--batch-size", a->batch_size, "batch size")->capture_default_str();
  sub->add_option("--lr", a->lr, "peak learning rate (cosine schedule)")->capture_default_str();
  sub->add_option("--methods", a->methods, "methods to run, comma-separated (default: every method)")->delimiter(',');
  sub->add_option("--epochs", a->epochs, "fine-tuning epochs per method")->capture_default_str();
  sub->add_option("--pretrain-epochs", a->pretrain_epochs, "source pretraining epochs")->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed")->capture_default_str();
  sub->add_option("--bn-reestimate", a->bn_reestimate, "batch-norm re-estimation in every run: auto|on|off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  auto runtime_flags = std::make_shared<FlagBinder>(*sub, "Runtime");
  a->runtime.visit(*runtime_flags);
  sub->callback([a, runtime_flags]() { run_demo(*a); });
}

}  // namespace aft::cli
