// aft soup: average fine-tuned runs of one pretrained model (uniform or greedy model soup)
// into a new run directory that `aft eval --run` and `aft predict --run` open.
#include <iomanip>
#include <iostream>

#include "aft/run/soup_run.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {

void add_soup_command(CLI::App& app) {
  auto spec = std::make_shared<run::SoupSpec>();
  auto* sub = app.add_subcommand("soup", "average fine-tuned runs of one pretrained model (model soup)");
  sub->add_option("--runs", spec->runs, "finished runs to average (same architecture, pretrained start, head)")
      ->required()
      ->expected(1, -1);
  sub->add_option("--data", spec->data, "dataset root; default: the one the runs were trained on");
  sub->add_option("--mode", spec->mode, "uniform (all runs) | greedy (best validation first, keep if no drop)")
      ->capture_default_str();
  sub->add_option("--out", spec->out, "run directory to write")->required();
  sub->add_flag("--recalibrate-bn", spec->recalibrate_bn,
                "recompute averaged batch-norm statistics on the training images (models with batch norms: ResNet, EfficientNet-Lite; a ViT has none)");
  sub->add_flag("--overwrite", spec->overwrite, "replace an existing run in --out");
  sub->add_option("--batch-size", spec->batch_size, "evaluation batch size")->capture_default_str();
  auto runtime_flags = std::make_shared<FlagBinder>(*sub, "Runtime");
  spec->runtime.visit(*runtime_flags);
  sub->add_flag("--quiet", spec->quiet, "no progress output");
  sub->callback([spec, runtime_flags]() {
    const auto s = run::make_soup(*spec);
    const auto& report = s.at("method_report");
    std::cout << std::fixed << std::setprecision(4);
    for (const auto& row : report.at("ingredients")) {
      std::cout << (row.at("kept").get<bool>() ? "  kept " : "       ") << row.at("run").get<std::string>() << "  val "
                << row.at("val_accuracy").get<double>() << "  test " << row.at("test_accuracy").get<double>() << "\n";
    }
    std::cout << report.at("mode").get<std::string>() << " soup of " << report.at("kept").size() << ": val "
              << s.at("val_accuracy").get<double>() << "  test " << s.at("test_accuracy").get<double>() << "\n"
              << "run: " << spec->out << std::endl;
  });
}

}  // namespace aft::cli
