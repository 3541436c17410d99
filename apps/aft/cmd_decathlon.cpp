// `aft decathlon-score --input RESULTS.json [--json]`: the Visual Decathlon score of
// per-domain results (accuracies, error rates or run directories), per domain and in total.
#include <cstdio>
#include <iostream>

#include "aft/core/fs.h"
#include "aft/data/decathlon_score.h"
#include "apps/aft/commands.h"

namespace aft::cli {
namespace {

struct DecathlonArgs {
  std::string input;
  bool json = false;
};

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

void run_decathlon_score(const DecathlonArgs& a) {
  const auto score = data::decathlon_score(fs::read_json(a.input), a.input, parent_dir(a.input));
  if (a.json) {
    std::cout << score.to_json().dump(2) << std::endl;
    return;
  }
  std::printf("%-14s %9s %9s %10s %8s\n", "domain", "accuracy", "error", "max error", "score");
  for (const auto& r : score.rows) {
    std::printf("%-14s %9.2f %9.2f %10.2f %8.1f\n", r.domain.c_str(), r.accuracy, r.error, r.max_error, r.score);
  }
  std::printf("%-14s %39.1f  (of %zu x 1000)\n", "total", score.total, score.rows.size());
  if (!score.missing.empty()) {
    std::string names;
    for (const auto& m : score.missing) names += (names.empty() ? "" : ", ") + m;
    std::printf("not given (each would add 0 to a full Decathlon total): %s\n", names.c_str());
  }
}

}  // namespace

void add_decathlon_command(CLI::App& app) {
  auto a = std::make_shared<DecathlonArgs>();
  auto* sub = app.add_subcommand("decathlon-score", "Visual Decathlon score of per-domain accuracies or errors");
  sub->add_option("--input", a->input,
                  "JSON object, domain -> result: 0.603 (accuracy fraction), {\"accuracy\": 60.3} or "
                  "{\"error\": 39.7} (percent), {\"test_accuracy\": 0.603}, or \"RUN_DIR\" / \"summary.json\" "
                  "(relative to the input's folder); domains: imagenet12 aircraft cifar100 daimlerpedcls dtd "
                  "gtsrb vgg-flowers omniglot svhn ucf101")
      ->required();
  sub->add_flag("--json", a->json, "print JSON: {domains: {NAME: {accuracy, error, max_error, score}}, total, missing}");
  sub->callback([a]() { run_decathlon_score(*a); });
}

}  // namespace aft::cli
