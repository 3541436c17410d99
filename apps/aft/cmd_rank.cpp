// aft rank: transferability scores of candidate sources on a target (run/rank.h), as a table
// ordered by LogME, or as JSON.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "aft/run/rank.h"
#include "aft/train/train_options.h"
#include "apps/aft/cli_options.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct RankArgs {
  run::RankSpec spec;
  train::RuntimeOptions runtime;
  std::unique_ptr<FlagBinder> runtime_flags;
  bool json = false;
};

void run_rank(RankArgs& a) {
  a.runtime.apply();
  a.spec.device = a.runtime.device;
  a.spec.workers = static_cast<int>(a.runtime.workers);
  auto rows = run::rank_sources(a.spec);
  // Each score's order: 1 = best.
  auto ranks = [&](double run::SourceScore::*score) {
    std::vector<int> out(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      out[i] = 1 + static_cast<int>(std::count_if(rows.begin(), rows.end(),
                                                  [&](const auto& r) { return r.*score > rows[i].*score; }));
    }
    return out;
  };
  const auto by_logme = ranks(&run::SourceScore::logme), by_leep = ranks(&run::SourceScore::leep),
             by_nce = ranks(&run::SourceScore::nce), by_h = ranks(&run::SourceScore::h_score);
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      out.push_back({{"weights", r.weights}, {"model", r.arch}, {"source_classes", r.source_classes},
                     {"images", r.images}, {"logme", r.logme}, {"leep", r.leep}, {"nce", r.nce},
                     {"h_score", r.h_score}, {"rank", {{"logme", by_logme[i]}, {"leep", by_leep[i]}, {"nce", by_nce[i]},
                                                      {"h_score", by_h[i]}}},
                     {"seconds", r.seconds}});
    }
    std::cout << out.dump(2) << std::endl;
    return;
  }
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rows[x].logme > rows[y].logme; });
  std::cout << std::left << std::setw(40) << "source" << std::right << std::setw(10) << "LogME" << std::setw(10)
            << "LEEP" << std::setw(10) << "NCE" << std::setw(10) << "H-score" << "\n";
  for (size_t i : order) {
    const auto& r = rows[i];
    std::cout << std::left << std::setw(40) << r.weights << std::right << std::fixed << std::setprecision(4)
              << std::setw(10) << r.logme << std::setw(10) << r.leep << std::setw(10) << r.nce << std::setw(10)
              << r.h_score << "\n";
  }
  std::cout << "(" << rows.front().images << " training images; higher is better for every score)" << std::endl;
}

}  // namespace

void add_rank_command(CLI::App& app) {
  auto a = std::make_shared<RankArgs>();
  auto* sub = app.add_subcommand("rank", "transferability of candidate sources to a target: LogME, LEEP, NCE, H-score");
  sub->add_option("--weights", a->spec.weights, "a candidate source (.safetensors or run directory); repeat for each")
      ->required();
  sub->add_option("--data", a->spec.data, "the target: DIR with train/ (only training images are read)")->required();
  sub->add_option("--transform", a->spec.transform, "data preset of the forward pass")->capture_default_str();
  sub->add_option("--image-size", a->spec.image_size, "transform output size (0 = preset default)")->capture_default_str();
  sub->add_option("--max-per-class", a->spec.max_per_class, "score at most this many images per class (0 = all)")
      ->capture_default_str();
  sub->add_option("--batch-size", a->spec.batch_size, "batch size of the forward pass")->capture_default_str();
  sub->add_option("--seed", a->spec.seed, "seed of the --max-per-class choice")->capture_default_str();
  sub->add_flag("--json", a->json, "print JSON");
  a->runtime_flags = std::make_unique<FlagBinder>(*sub, "Runtime");
  a->runtime.visit(*a->runtime_flags);
  sub->callback([a]() { run_rank(*a); });
}

}  // namespace aft::cli
