// --method auto's options and candidates (docs/auto.md). The race itself runs above the
// methods, in aft/run/auto_race.h: it trains other methods, so it is not a Method; it is listed
// here so that `aft methods`, `--method auto --help` and config.json treat it like one.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/methods/registry.h"

namespace aft::methods {

// One entrant: a method at its best defaults (`options`: its flags as config.json keys) and a
// learning rate, `lr_scale` x the run's --lr.
struct AutoCandidate {
  std::string label;  // "full", "full@0.3", "partial-angle", ...
  std::string method;
  nlohmann::json options = nlohmann::json::object();
  double lr_scale = 1.0;
  // Architectures it fits, prefixes separated by '|'; empty: the method's MethodInfo::fits_arch.
  std::string arch_prefix;
  // What the race's plan assumes it costs, in full fine-tunes per run: the method's
  // MethodInfo::cost_guess (resolve() fills it in); the race measures the real cost.
  double cost_guess = 1.0;
  // prepare()'s search, in epochs of full fine-tuning, paid once per race: it runs on fold 0 and
  // the other folds reuse what it chose (units, ratios: choices, not weights fit to fold 0's
  // images). 0: nothing to share; each fold prepares on its own split (lp-ft's probe head).
  double search_epochs = 0;
};

struct AutoOptions : Options {
  double budget = 3;                    // in full fine-tunes of --epochs epochs
  std::vector<std::string> candidates;  // labels; empty: default_auto_candidates()
  int64_t folds = 0;                    // 0: 3 under 50 training images per class, else 1
  int64_t first_rung = 0;               // epochs of the first rung; 0: the longest the budget allows
  std::string hedge = "full";           // a label that always reaches the last rung; "none": no hedge
  void visit(OptionVisitor& v) override;
  void validate() const override;
  // The entrants for an architecture: --candidates resolved against the table (a label there,
  // or METHOD / METHOD@SCALE for any method without options), or the defaults.
  std::vector<AutoCandidate> resolve(const std::string& arch) const;
};

// The default entrants, in the order of the report.
const std::vector<AutoCandidate>& default_auto_candidates();

MethodInfo auto_method();

}  // namespace aft::methods
