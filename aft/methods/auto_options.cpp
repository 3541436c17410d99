#include "aft/methods/auto_options.h"

#include "aft/core/error.h"
#include "aft/core/parse.h"

#include <algorithm>

namespace aft::methods {

const std::vector<AutoCandidate>& default_auto_candidates() {
  // Two rates for full fine-tuning, whose best rate moves most with the source; a higher one for
  // the linear probe, whose head starts from zero knowledge and trains alone.
  static const std::vector<AutoCandidate> table = {
      {"linear@3", "linear", nlohmann::json::object(), 3.0},
      {"lp-ft", "lp-ft", nlohmann::json::object(), 1.0},
      {"full", "full", nlohmann::json::object(), 1.0},
      {"full@0.3", "full", nlohmann::json::object(), 0.3},
      {"l2sp", "l2sp", nlohmann::json::object(), 1.0},
      // Measured on a 10-shot target (15 epochs): partial's angle fine-tune and k/pick proxies do
      // about 2 epochs of full fine-tuning, contribution's fast PSO about 22.
      {"partial-angle", "partial", {{"select", "angle"}, {"k", "auto"}, {"pick", "auto"}}, 1.0, "", 1.0, 2},
      {"contribution-fast", "contribution", {{"search-preset", "fast"}}, 1.0, "", 1.0, 22},
      {"spottune", "spottune", nlohmann::json::object(), 1.0},
      // Adapters learn from zero (B = 0, Q = 0): peft's recipes give them a higher rate.
      {"lora@3", "lora", nlohmann::json::object(), 3.0, "vit_"},
  };
  return table;
}

namespace {

std::string candidate_help() {
  std::string labels;
  for (const auto& c : default_auto_candidates()) labels += (labels.empty() ? "" : ", ") + c.label;
  return "candidates raced (labels; repeat the flag or separate them with commas): default " + labels +
         "; also METHOD or METHOD@SCALE (learning rate SCALE x --lr) for any method, at its defaults";
}

}  // namespace

void AutoOptions::visit(OptionVisitor& v) {
  v.field("budget",
          "most training work the race may spend, in units of one full fine-tune of --epochs epochs on the training "
          "split (images x steps; a step that leaves a frozen prefix out of the backward pass counts (1 + 2 x the "
          "trained fraction of the layers) / 3; searches and the final training included)",
          budget);
  static const std::string help = candidate_help();
  v.field("candidates", help.c_str(), candidates);
  v.field("folds",
          "cross-validation folds for each candidate's fitness; the winner is then retrained on all training images "
          "(0: 3 when the training split has under 50 images per class, else 1 = the validation split)",
          folds);
  v.field("first-rung", "epochs of the first successive-halving rung (0: the longest the budget allows)", first_rung);
  v.field("hedge",
          "a candidate that no cut removes, so that an early rung's noise cannot drop the strongest default: it "
          "reaches the last rung beside the leader (a label among the candidates, or none)",
          hedge);
}

void AutoOptions::validate() const {
  check(budget > 0 && budget <= 1000, "--budget ", budget, ": expected a positive number of full fine-tunes");
  check(folds >= 0 && folds <= 10, "--folds ", folds, ": expected 0 (automatic) or 1-10");
  check(first_rung >= 0, "--first-rung ", first_rung, ": expected >= 0");
  check(!hedge.empty(), "--hedge: expected a candidate's label or none");
  if (!candidates.empty()) resolve("");  // unknown labels fail now, not mid-race
}

std::vector<AutoCandidate> AutoOptions::resolve(const std::string& arch) const {
  // An empty arch checks the labels alone (validate(), before the model is known).
  auto fits = [&](const AutoCandidate& c) {
    if (arch.empty()) return true;
    size_t begin = 0;  // arch_prefix: prefixes separated by '|'
    while (begin <= c.arch_prefix.size()) {
      const auto end = std::min(c.arch_prefix.find('|', begin), c.arch_prefix.size());
      if (arch.rfind(c.arch_prefix.substr(begin, end - begin), 0) == 0) return true;
      begin = end + 1;
    }
    return false;
  };
  std::vector<AutoCandidate> out;
  // What a method costs and where it applies are its MethodInfo's facts; a candidate's own
  // arch_prefix (lora@3: ViTs) narrows them.
  auto with_facts = [](AutoCandidate c) {
    const auto& info = find_method(c.method);
    c.cost_guess = info.cost_guess;
    if (c.arch_prefix.empty()) c.arch_prefix = info.fits_arch;
    return c;
  };
  auto take = [&](const AutoCandidate& c) {
    if (!fits(c)) return;
    for (const auto& seen : out) check(seen.label != c.label, "--candidates: ", c.label, " is listed twice");
    out.push_back(c);
  };
  if (candidates.empty()) {
    for (const auto& c : default_auto_candidates()) take(with_facts(c));
    return out;
  }
  std::vector<std::string> labels;
  for (const auto& entry : candidates) {
    size_t begin = 0;
    while (begin <= entry.size()) {
      const auto end = std::min(entry.find(',', begin), entry.size());
      check(end > begin, "--candidates ", entry, ": an empty label");
      labels.push_back(entry.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  for (const auto& label : labels) {
    const AutoCandidate* known = nullptr;
    for (const auto& c : default_auto_candidates()) {
      if (c.label == label) known = &c;
    }
    if (known) {
      const auto c = with_facts(*known);
      check(fits(c), "--candidates ", label, ": needs a ", c.arch_prefix, "* model, not ", arch);
      take(c);
      continue;
    }
    AutoCandidate c;
    c.label = label;
    const auto at = label.find('@');
    c.method = label.substr(0, at);
    check(c.method != "auto", "--candidates: auto cannot race itself");
    try {
      find_method(c.method);  // unknown names fail listing the valid ones
    } catch (const Error& e) {
      const std::string what = e.what();  // "--method NAME: unknown method; ...": the name came from --candidates
      fail("--candidates ", label, what.substr(what.find(':')));
    }
    if (at != std::string::npos) {
      const auto scale = parse_number(label.substr(at + 1));
      check(scale && *scale > 0, "--candidates ", label, ": expected METHOD@SCALE with a positive SCALE");
      c.lr_scale = *scale;
    }
    c = with_facts(c);
    check(fits(c), "--candidates ", label, ": needs a ", c.arch_prefix, "* model, not ", arch);
    take(c);
  }
  check(!out.empty(), "--candidates: no candidate left for ", arch);
  return out;
}

MethodInfo auto_method() {
  MethodInfo info{"auto", "race the other methods by successive halving within --budget; train the winner",
                  [] { return std::make_unique<AutoOptions>(); },
                  [](const Options&) -> MethodPtr {
                    fail("--method auto is a race of methods, run by aft/run/auto_race.h, not a Method");
                  },
                  [](Options& o) {
                    // The demo's race: the cheap and the common candidates (the budget is raised
                    // to the cheapest race when it cannot pay for one).
                    auto& a = dynamic_cast<AutoOptions&>(o);
                    a.budget = 2;
                    a.candidates = {"linear@3", "lp-ft", "full", "l2sp"};
                  }};
  info.races_methods = true;
  return info;
}

}  // namespace aft::methods
