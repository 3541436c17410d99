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

// Better first; within a tie, fewer trainable parameters.
bool ahead(const Entrant& a, const Entrant& b) {
  if (a.fitness != b.fitness) return a.fitness > b.fitness;
  return a.trainable < b.trainable;
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
    out << std::setw(12) << e.trainable << "\n";
  }
  return out.str();
}

}  // namespace

nlohmann::json run_auto(JobSpec& spec) {
  const bool resuming = !spec.resume.empty();
  check(spec.command == "finetune", "--method auto fine-tunes pretrained weights (aft finetune)");
  check(!spec.model.weights.empty(), "--weights is required to fine-tune");
  const auto& options = dynamic_cast<const methods::AutoOptions&>(*spec.method_options);
  const bool main_rank = !spec.dist || spec.dist->is_main();
  if (spec.dist) spec.train.device = dist::device_for_rank(spec.train.device, spec.dist->local_rank());
  const auto device = parse_device(spec.train.device);
  spec.train.apply();
  seed_everything(static_cast<uint64_t>(spec.train.seed));
  log::set_quiet(spec.quiet || !main_rank);
  auto in = open_job_inputs(spec, false);
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
  // Rank 0 alone owns the run directory; every rank trains in its own steps' directories.
  std::optional<train::RunDir> run;
  if (main_rank) run.emplace(spec.out, spec.overwrite, resuming, std::vector<std::string>{spec.data, in.weights});
  auto cfg = job_config(spec, in, device, false);
  if (run && !resuming) run->write_config(cfg);
  // The plan's guesses (the race itself measures each candidate's rate). A candidate whose
  // one-off search alone would take more than its share of the budget (budget / candidates)
  // sits the race out, the costliest first, and the report says so: it would spend the others'
  // budget before the race could compare anything. Deterministic, so a resumed race agrees.
  nlohmann::json left_out = nlohmann::json::array();
  const auto plan_for = [&](const std::vector<methods::AutoCandidate>& cs) {
    double rate = 0, searches = 0;
    for (const auto& c : cs) {
      rate += c.cost_guess / static_cast<double>(cs.size());
      searches += c.search_epochs / static_cast<double>(spec.train.epochs);
    }
    return fit_plan(static_cast<int64_t>(cs.size()), spec.train.epochs, folds, options.budget, options.first_rung,
                    rate, searches);
  };
  while (candidates.size() > 2) {
    auto costliest = std::max_element(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.search_epochs < b.search_epochs;
    });
    const double cost = costliest->search_epochs / static_cast<double>(spec.train.epochs);
    const double share = options.budget / static_cast<double>(candidates.size());
    if (cost <= share) break;
    log::warn("auto: --budget " + fixed_string(options.budget, 2) + " cannot afford " + costliest->label +
              "'s search (about " + fixed_string(cost, 2) + " full fine-tunes, above its share of " +
              fixed_string(share, 2) + "); it sits this race out (a larger --budget brings it back)");
    left_out.push_back({{"label", costliest->label}, {"search_cost", cost}, {"share", share}});
    candidates.erase(costliest);
  }
  const auto plan = plan_for(candidates);
  log::info("auto: " + std::to_string(candidates.size()) + " candidates, " + std::to_string(folds) + " fold(s), rungs of " +
            [&] {
              std::string s;
              for (auto e : plan.rung_epochs) s += (s.empty() ? "" : "/") + std::to_string(e);
              return s;
            }() +
            " epochs; planned cost " + fixed_string(plan.cost, 2) + " of a budget of " + fixed_string(options.budget, 2) +
            " full fine-tunes");
  if (plan.cost > options.budget) {
    log::warn("auto: even a 1-epoch first rung over " + std::to_string(candidates.size()) +
              " candidates exceeds --budget; the race stops when the budget is spent");
  }
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
  std::vector<size_t> entrants(all.size());
  for (size_t i = 0; i < entrants.size(); ++i) entrants[i] = i;
  nlohmann::json rungs = nlohmann::json::array();
  int64_t previous = 0;
  std::string stop_reason = "one candidate left";
  for (size_t r = 0; r < plan.rung_epochs.size(); ++r) {
    const int64_t epochs = plan.rung_epochs[r];
    if (r > 0) {
      // Cut to the better half, then check that the next rung and the final fit the budget.
      std::sort(entrants.begin(), entrants.end(), [&](size_t a, size_t b) { return ahead(all[a], all[b]); });
      entrants.resize((entrants.size() + 1) / 2);
      double next = 0, rate_max = 0;
      for (size_t i : entrants) {
        next += all[i].rate * static_cast<double>((epochs - previous) * folds) / spec.train.epochs;
        rate_max = std::max(rate_max, all[i].rate);
      }
      const double final_cost = rate_max * (folds > 1 ? static_cast<double>(folds) / (folds - 1)
                                                      : static_cast<double>(spec.train.epochs - epochs) / spec.train.epochs);
      if (race.spent() + next + final_cost > options.budget * 1.05) {
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
      std::vector<double> accs;
      for (int64_t f = 0; f < folds; ++f) accs.push_back(race.advance(e, f, epochs));
      double mean = 0, var = 0;
      for (double a : accs) mean += a / accs.size();
      for (double a : accs) var += (a - mean) * (a - mean) / std::max<size_t>(1, accs.size() - 1);
      e.fitness = mean;
      const auto val_images = static_cast<double>(race.state()["steps"][e.candidate.label + "/fold0"].value("val_images", 1));
      e.spread = folds > 1 ? std::sqrt(var) : std::sqrt(std::max(mean * (1 - mean), 1e-4) / std::max(1.0, val_images));
      fitness[e.candidate.label] = mean;
      log::info("auto rung " + std::to_string(r + 1) + " (" + std::to_string(epochs) + " epochs): " + e.candidate.label +
                " val " + fixed_string(mean, 4) + " (spent " + fixed_string(race.spent(), 2) + ")");
    }
    rungs.push_back({{"epochs", epochs}, {"fitness", fitness}});
    previous = epochs;
    if (entrants.size() == 1) break;
    if (r + 1 == plan.rung_epochs.size()) stop_reason = "the last rung reached --epochs";
  }
  // The winner: the best fitness; any candidate within its spread that trains fewer parameters wins the tie.
  std::sort(entrants.begin(), entrants.end(), [&](size_t a, size_t b) { return ahead(all[a], all[b]); });
  const Entrant& best = all[entrants.front()];
  size_t winner = entrants.front();
  for (size_t i : entrants) {
    if (all[i].fitness >= best.fitness - best.spread && all[i].trainable < all[winner].trainable) winner = i;
  }
  double runner_up = -1;
  for (size_t i : entrants) {
    if (i != winner) runner_up = std::max(runner_up, all[i].fitness);
  }
  auto& w = all[winner];
  log::info("auto: winner " + w.candidate.label + " (val " + fixed_string(w.fitness, 4) + "); training it to " +
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
    cfg = run->read_config();
    cfg["winner"] = {{"label", w.candidate.label}, {"method", w.candidate.method}, {"method_options", method_options},
                     {"lr", spec.train.lr * w.candidate.lr_scale}};
    run->write_config(cfg);
    auto meta = models::model_metadata(*method->model());
    meta["aft.method"] = w.candidate.method;
    meta["aft.classes"] = nlohmann::json(in.task.splits.classes).dump();
    models::save_weights(*method->module(), run->file("model.safetensors"), meta);
  }
  nlohmann::json report = {{"winner", w.candidate.label},
                           {"winner_fitness", w.fitness},
                           {"winner_spread", w.spread},
                           {"margin", runner_up >= 0 ? nlohmann::json(w.fitness - runner_up) : nlohmann::json(nullptr)},
                           {"folds", folds},
                           {"budget", options.budget},
                           {"spent", race.spent()},
                           {"planned_cost", plan.cost},
                           {"left_out", left_out},
                           {"stopped", stop_reason},
                           {"rungs", rungs},
                           {"sessions", race.state()["session"]},
                           {"probe_features_computed", race.features_computed()}};
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& e : all) {
    cands.push_back({{"label", e.candidate.label}, {"method", e.candidate.method}, {"lr_scale", e.candidate.lr_scale},
                     {"fitness", e.fitness}, {"spread", e.spread}, {"trainable_params", e.trainable}});
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
