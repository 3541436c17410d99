#include "aft/run/auto_race.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/dist/env.h"
#include "aft/dist/process_group.h"
#include "aft/methods/auto_options.h"
#include "aft/methods/feature_cache.h"
#include "aft/methods/registry.h"
#include "aft/models/weights.h"
#include "aft/run/auto_race_steps.h"
#include "aft/run/race_policy.h"
#include "aft/train/checkpoint.h"
#include "aft/train/run_dir.h"
#include "aft/train/trainer.h"
#include "aft/train/work.h"

namespace aft::run {

namespace {

std::string fixed_string(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

std::string race_table(const nlohmann::json& rungs, const std::vector<Entrant>& all, const std::string& winner) {
  std::ostringstream out;
  out << std::left << std::setw(20) << "candidate" << std::right;
  for (const auto& r : rungs) out << std::setw(11) << ("rung " + std::to_string(r.at("epochs").get<int64_t>()) + "ep");
  out << std::setw(13) << "trainable\n";
  for (const auto& e : all) {
    out << std::left << std::setw(20) << (e.candidate.label + (e.candidate.label == winner ? " *" : "")) << std::right;
    for (const auto& r : rungs) {
      const auto& fit = r.at("fitness");
      out << std::setw(11)
          << (fit.contains(e.candidate.label) ? [&] {
               std::ostringstream v;
               v << std::fixed << std::setprecision(4) << fit.at(e.candidate.label).get<double>();
               return v.str();
             }()
                                               : std::string("cut"));
    }
    out << std::setw(12) << e.standing.trainable << "\n";
  }
  return out.str();
}

}  // namespace

nlohmann::json run_auto(JobSpec& spec) {
  check(spec.command == "finetune", "--method auto fine-tunes pretrained weights (aft finetune)");
  check(!spec.model.weights.empty(), "--weights is required to fine-tune");
  const auto& options = dynamic_cast<const methods::AutoOptions&>(*spec.method_options);
  // Rank 0 alone owns the run directory; every rank trains in its own steps' directories.
  Job job = open_job(spec, {});
  const auto& in = job.in;
  const bool resuming = job.resuming;
  train::RunDir* run = job.run.get();
  check(!in.task.splits.val_indices.empty() || options.folds > 1, "--method auto chooses by validation accuracy: ",
        "--val-fraction 0 leaves none (use --val-fraction > 0 or --folds 2 or more)");
  // Folds: a single validation split is too noisy to choose by when classes are small.
  const auto per_class = [&] {
    std::vector<int64_t> counts(in.task.splits.classes.size(), 0);
    for (size_t i : in.task.splits.train_indices) counts[static_cast<size_t>(in.task.splits.train->label(i))]++;
    return *std::min_element(counts.begin(), counts.end());
  }();
  const int64_t folds = options.folds > 0 ? options.folds : (per_class < 50 ? 3 : 1);
  auto candidates = options.resolve(in.config.arch);
  // The plan's guesses (the race itself measures each candidate's rate). A candidate whose
  // one-off search alone would take more than its share of the budget (budget / candidates)
  // sits the race out, the costliest first, and the report says so: it would spend the others'
  // budget before the race could compare anything. Deterministic, so a resumed race agrees.
  nlohmann::json left_out = nlohmann::json::array();
  double budget = options.budget;
  // The hedge: a candidate that always reaches the last rung (docs/auto.md, "The hedge").
  const auto hedge_of = [&](const std::vector<methods::AutoCandidate>& cs) -> int64_t {
    if (options.hedge == "none") return -1;
    for (size_t i = 0; i < cs.size(); ++i) {
      if (cs[i].label == options.hedge) return static_cast<int64_t>(i);
    }
    check(!spec.explicit_flags.count("hedge"), "--hedge ", options.hedge, ": not among the candidates raced (",
          [&] {
            std::string labels;
            for (const auto& c : cs) labels += (labels.empty() ? "" : ", ") + c.label;
            return labels;
          }(),
          "); name one of them, or none");
    return -1;
  };
  const auto plan_for = [&](const std::vector<methods::AutoCandidate>& cs) {
    double rate = 0, searches = 0;
    for (const auto& c : cs) {
      rate += c.cost_guess / static_cast<double>(cs.size());
      searches += c.search_epochs / static_cast<double>(spec.train.epochs);
    }
    return fit_plan(static_cast<int64_t>(cs.size()), spec.train.epochs, folds, budget, options.first_rung, rate,
                    searches);
  };
  while (candidates.size() > 2) {
    auto costliest = std::max_element(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.search_epochs < b.search_epochs;
    });
    const double cost = costliest->search_epochs / static_cast<double>(spec.train.epochs);
    const double share = budget / static_cast<double>(candidates.size());
    if (cost <= share) break;
    log::warn("auto: --budget " + fixed_string(budget, 2) + " cannot afford " + costliest->label +
              "'s search (about " + fixed_string(cost, 2) + " full fine-tunes, above its share of " +
              fixed_string(share, 2) + "); it sits this race out (a larger --budget brings it back)");
    left_out.push_back({{"label", costliest->label}, {"search_cost", cost}, {"share", share}});
    candidates.erase(costliest);
  }
  auto plan = plan_for(candidates);
  if (plan.cost > budget) {
    // Not even a 1-epoch first rung fits. A --budget the user gave is refused; the default is
    // raised to the cheapest race, and the line says so.
    const double cheapest = std::ceil(plan.cost * 100) / 100;
    const int64_t first = plan.rung_epochs.front();
    check(!spec.explicit_flags.count("budget"), "--budget ", fixed_string(budget, 2), ": the cheapest race of ",
          candidates.size(), " candidates (", folds, " fold(s), a first rung of ", first, " epoch",
          first == 1 ? "" : "s", ") costs about ", fixed_string(cheapest, 2), " full fine-tunes; give --budget ",
          fixed_string(cheapest, 2), " or more, or fewer --candidates");
    log::info("auto: the default --budget " + fixed_string(budget, 2) + " cannot pay for one rung of " +
              std::to_string(candidates.size()) + " candidates; using " + fixed_string(cheapest, 2) +
              ", the cheapest race (--budget sets it)");
    budget = cheapest;
    plan = plan_for(candidates);
  }
  log::info("auto: " + std::to_string(candidates.size()) + " candidates, " + std::to_string(folds) + " fold(s), rungs of " +
            [&] {
              std::string s;
              for (auto e : plan.rung_epochs) s += (s.empty() ? "" : "/") + std::to_string(e);
              return s;
            }() +
            " epochs; planned cost " + fixed_string(plan.cost, 2) + " of a budget of " + fixed_string(budget, 2) +
            " full fine-tunes");
  if (spec.dist) {
    log::info("auto: the race's steps spread over " + std::to_string(spec.dist->world()) +
              " processes; the winner's final training is data-parallel");
  }
  Race race(spec, in, spec.out, folds, resuming);
  std::vector<Entrant> all;
  for (const auto& c : candidates) all.push_back({c});
  {
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < all.size(); ++i) {
      if (race.mine(i, 0)) race.search(all[i]);
    }
    race.share();
    race.add_seconds(start);
  }
  const int64_t hedge = hedge_of(candidates);
  const auto standings = [&] {
    std::vector<Standing> table;
    for (const auto& e : all) table.push_back(e.standing);
    return table;
  };
  std::vector<size_t> entrants(all.size());
  for (size_t i = 0; i < entrants.size(); ++i) entrants[i] = i;
  nlohmann::json rungs = nlohmann::json::array();
  int64_t previous = 0;
  std::string stop_reason = "one candidate left";
  for (size_t r = 0; r < plan.rung_epochs.size(); ++r) {
    const int64_t epochs = plan.rung_epochs[r];
    if (r > 0) {
      // Cut to the better half (the hedge goes on), then check that the next rung and the final fit.
      const auto table = standings();
      entrants = cut(table, entrants, hedge);
      if (!fits(race.spent(), next_cost(table, entrants, previous, epochs, spec.train.epochs, folds), budget)) {
        stop_reason = "budget: the rung of " + std::to_string(epochs) + " epochs would not fit";
        break;
      }
    }
    nlohmann::json fitness = nlohmann::json::object();
    const auto start = std::chrono::steady_clock::now();
    for (size_t i : entrants) {
      for (int64_t f = 0; f < folds; ++f) {
        if (race.mine(i, f)) race.advance(all[i], f, epochs);
      }
    }
    race.share();  // every rank now holds every step of the rung
    race.add_seconds(start);
    for (size_t i : entrants) {
      auto& e = all[i];
      race.read_standing(e);
      fitness[e.candidate.label] = e.standing.fitness();
      log::info("auto rung " + std::to_string(r + 1) + " (" + std::to_string(epochs) + " epochs): " + e.candidate.label +
                " val " + fixed_string(e.standing.fitness(), 4) + " (spent " + fixed_string(race.spent(), 2) + ")");
    }
    rungs.push_back({{"epochs", epochs}, {"fitness", fitness}});
    previous = epochs;
    if (entrants.size() == 1) break;
    if (r + 1 == plan.rung_epochs.size()) stop_reason = "the plan's last rung (" + std::to_string(epochs) + " epochs) is done";
  }
  // The winner: the leader, or a candidate training fewer parameters within the paired gap's error.
  const auto table = standings();
  const size_t winner = decide(table, entrants);
  size_t runner_up = winner;
  for (size_t i : ranked(table, entrants)) {
    if (i != winner) {
      runner_up = i;
      break;
    }
  }
  auto& w = all[winner];
  log::info("auto: winner " + w.candidate.label + " (val " + fixed_string(w.standing.fitness(), 4) + "); training it to " +
            std::to_string(spec.train.epochs) + " epochs" + (folds > 1 ? " on every training image" : ""));
  methods::MethodPtr method;
  const auto final_start = std::chrono::steady_clock::now();
  auto final = race.finish(w, method);
  race.add_seconds(final_start);
  nlohmann::json method_options = w.candidate.options;
  {
    auto opts = methods::find_method(w.candidate.method).make_options();
    options_from_json(*opts, w.candidate.options, true, "--method auto winner");
    method_options = options_to_json(*opts);
  }
  if (run) {
    // The run is the winner's: config.json names its method, options and rate as any run's do
    // (eval, predict, soup and export read them), and what chose it under "chosen_by".
    auto meta = models::model_metadata(*method->model());
    meta["aft.method"] = w.candidate.method;
    meta["aft.classes"] = nlohmann::json(in.task.splits.classes).dump();
    models::save_weights(*method->module(), run->file("model.safetensors"), meta);
    auto cfg = run->read_config();
    cfg["chosen_by"] = {{"method", "auto"}, {"method_options", cfg.at("method_options")}, {"label", w.candidate.label},
                        {"race", "race.json"}};
    cfg["method"] = w.candidate.method;
    cfg["method_options"] = method_options;
    cfg["train"]["lr"] = spec.train.lr * w.candidate.lr_scale;
    run->write_config(cfg);
  }
  nlohmann::json report = {{"winner", w.candidate.label},
                           {"winner_fitness", w.standing.fitness()},
                           {"winner_spread", w.standing.spread()},
                           {"margin", runner_up != winner
                                          ? nlohmann::json(w.standing.fitness() - all[runner_up].standing.fitness())
                                          : nlohmann::json(nullptr)},
                           {"paired_gap", runner_up != winner ? [&] {
                              const auto gap = paired_gap(w.standing, all[runner_up].standing);
                              return nlohmann::json{{"against", all[runner_up].candidate.label}, {"mean", gap.mean},
                                                    {"se", gap.se}};
                            }()
                                                              : nlohmann::json(nullptr)},
                           {"hedge", hedge >= 0 ? nlohmann::json(all[static_cast<size_t>(hedge)].candidate.label)
                                                : nlohmann::json(nullptr)},
                           {"folds", folds},
                           {"pool_images", race.pool_size()},
                           {"budget", budget},
                           {"spent", race.spent()},
                           {"planned_cost", plan.cost},
                           {"left_out", left_out},
                           {"stopped", stop_reason},
                           {"rungs", rungs},
                           {"sessions", race.sessions()},
                           {"probe_features_computed", race.features_computed()}};
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& e : all) {
    cands.push_back({{"label", e.candidate.label}, {"method", e.candidate.method}, {"lr_scale", e.candidate.lr_scale},
                     {"fitness", e.standing.fitness()}, {"spread", e.standing.spread()},
                     {"fold_fitness", e.standing.folds}, {"trainable_params", e.standing.trainable}});
  }
  report["candidates"] = cands;
  report["table"] = race_table(rungs, all, w.candidate.label);
  nlohmann::json summary = {{"method", "auto"},
                            {"chosen", w.candidate.label},
                            {"chosen_method", w.candidate.method},
                            {"model", in.config.arch},
                            {"trainable_params", methods::count_params(*method->module(), true)},
                            {"total_params", methods::count_params(*method->module(), false)},
                            {"budget_spent", race.spent()},
                            {"method_report", report}};
  for (auto it = final.begin(); it != final.end(); ++it) summary[it.key()] = it.value();
  // The whole race's time, this session's and any before a resume, final training included.
  summary["seconds"] = race.seconds();
  summary["processes"] = spec.dist ? spec.dist->world() : 1;
  if (run) run->write_summary(summary);
  return summary;
}

}  // namespace aft::run
