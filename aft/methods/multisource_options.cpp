// The multi-source method's options: the --source and --frozen forms and the search presets.
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/core/fs.h"
#include "aft/methods/multisource.h"

namespace aft::methods {

void MultiSourceOptions::visit(OptionVisitor& v) {
  v.field("source", "a source model, ARCH=WEIGHTS or WEIGHTS (arch from its metadata); give it once per source (N >= 2)",
          sources);
  v.field("frozen", "frozen layer units per source, K1,K2,... (0 = fully tuned); empty: searched by PSO", frozen);
  v.field("collab-weight", "lambda, weight of the collaborative term (0: the sources train independently)",
          collab_weight);
  v.field("freeze-bn-stats", "frozen units' batch norms keep their running statistics (the reference updates them)",
          freeze_bn_stats);
  v.field("search-preset", "paper (10 particles, 5 iterations, 5 proxy epochs) | fast (4, 2, 2 on half the data, pruning)",
          search_preset);
  SearchOptions::visit(v);
  v.field("cache-frozen",
          "auto: when the training transform does not augment and the frozen pieces are fixed functions (no batch "
          "norm, or --freeze-bn-stats), compute their outputs once per image and reuse them in every epoch and "
          "search particle | off",
          cache_frozen);
  v.field("cache-mb", "memory the frozen-output cache may fill, in MiB", cache_mb);
}

std::vector<int64_t> parse_frozen(const std::string& text) {
  const auto counts = parse_integer_list(text);
  check(counts.has_value(), "--frozen ", text, ": expected comma-separated layer counts, e.g. 3,5");
  for (int64_t k : *counts) check(k >= 0, "--frozen ", text, ": ", k, " is not a non-negative count");
  return *counts;
}

void MultiSourceOptions::validate() const {
  check(sources.size() >= 2, "--method multisource needs at least two --source ARCH=WEIGHTS (got ", sources.size(), ")");
  if (!frozen.empty()) {
    const auto k = parse_frozen(frozen);
    check(k.size() == sources.size(), "--frozen ", frozen, " gives ", k.size(), " counts for ", sources.size(),
          " sources");
  }
  check(collab_weight >= 0 && std::isfinite(collab_weight), "--collab-weight ", collab_weight, ": expected >= 0");
  check_choice("--search-preset", search_preset, {"paper", "fast"});
  SearchOptions::validate();
  check_choice("--cache-frozen", cache_frozen, {"auto", "off"});
  check(cache_mb >= 0, "--cache-mb ", cache_mb, ": expected >= 0");
}

SourceSpec parse_source(const std::string& text) {
  SourceSpec s;
  const auto eq = text.find('=');
  if (eq != std::string::npos && eq > 0 && !fs::exists(text)) {
    s.arch = text.substr(0, eq);
    s.weights = text.substr(eq + 1);
  } else {
    s.weights = text;
  }
  check(!s.weights.empty(), "--source ", text, ": no weights file");
  if (fs::is_directory(s.weights)) s.weights += "/model.safetensors";
  check(fs::exists(s.weights), "--source ", text, ": no such file ", s.weights);
  return s;
}

MultiSourceBudget resolve_budget(const MultiSourceOptions& o) {
  MultiSourceBudget b;
  // fast: 12 evaluations of at most 2 epochs on half the data, hopeless ones pruned —
  // at most 24 proxy epochs against the paper's 300.
  if (o.search_preset == "fast") {
    b.particles = 4;
    b.iterations = 2;
    b.proxy_epochs = 2;
    b.proxy_fraction = 0.5;
    b.early_stop_margin = 0.05;
  }
  search::apply_overrides(b, o);
  return b;
}

}  // namespace aft::methods
