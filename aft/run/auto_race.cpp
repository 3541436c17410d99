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

struct Entrant {
  methods::AutoCandidate candidate;
  double fitness = -1;  // mean best validation accuracy over the folds, so far
  double spread = 0;    // over folds: their std; one split: the binomial std of its accuracy
  int64_t trainable = 0;
  double rate = 0;      // measured work per epoch and fold, in full fine-tunes of one epoch
};

// The race's whole state, in RUN/race.json (rank 0 writes it) after every step.
//
// With several processes (torchrun), every step of a rung (a candidate on a fold) has an owner
// rank, always the same one, so that a candidate continues its own checkpoint between rungs; a
// rank trains the steps it owns alone (single-process, as the PSO's evaluations are trained),
// then the ranks meet (dist::Group::exchange, which waits for a busy peer as long as it is
// alive) and every rank takes the others' results, so that all of them cut the same
// candidates. The winner's final training is data-parallel over every rank. The ranks share the
// run directory (one machine, or a shared file system), as a resumed multi-process job does.
class Race {
 public:
  Race(const JobSpec& spec, const JobInputs& in, std::string dir, int64_t folds, bool resuming)
      : spec_(spec), in_(in), dir_(std::move(dir)), folds_(folds), group_(spec.dist) {
    const auto path = dir_ + "/race.json";
    if (resuming && main() && fs::exists(path)) state_ = fs::read_json(path);
    if (group_) {
      // Rank 0's file is the race's state; the others take it from rank 0.
      const auto all = group_->exchange(main() ? state_.dump() : std::string());
      state_ = all[0] == "null" ? nlohmann::json() : nlohmann::json::parse(all[0]);
    }
    if (!state_.is_object()) state_ = {{"steps", nlohmann::json::object()}, {"session", 0}};
    state_["session"] = state_.value("session", 0) + 1;
    // A fold's split, and the k-fold final's: carved from train + validation of the run's split.
    auto pool = in_.task.splits.train_indices;
    pool.insert(pool.end(), in_.task.splits.val_indices.begin(), in_.task.splits.val_indices.end());
    std::sort(pool.begin(), pool.end());
    pool_ = pool;
    if (folds_ > 1) {
      fold_splits_ = k_folds(*in_.task.splits.train, pool, folds_, static_cast<uint64_t>(spec_.train.seed));
    } else {
      fold_splits_ = {{in_.task.splits.train_indices, in_.task.splits.val_indices}};
    }
    unit_ = static_cast<double>(in_.task.splits.train_indices.size()) * static_cast<double>(spec_.train.epochs);
  }

  nlohmann::json& state() { return state_; }
  void save() const {
    if (main()) fs::write_json_atomic(dir_ + "/race.json", state_);
  }
  double spent() const { return state_.value("spent", 0.0); }
  double unit() const { return unit_; }
  double seconds() const { return state_.value("seconds", 0.0); }
  int64_t features_computed() const { return features_->computed(); }
  bool main() const { return !group_ || group_->is_main(); }
  int world() const { return group_ ? group_->world() : 1; }
  // The rank that trains entrant `index` (its place among all candidates) on fold `f`: fixed for
  // the whole race, and the folds of one candidate on different ranks where there are enough.
  bool mine(size_t index, int64_t f) const {
    return (static_cast<int64_t>(index) * folds_ + f) % world() == (group_ ? group_->rank() : 0);
  }

  void add_seconds(std::chrono::steady_clock::time_point start) {
    state_["seconds"] = seconds() + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // The meeting after a phase of steps: every rank sends the records it wrote since the last
  // one and takes everyone else's. Then the spend is recounted from the records, and saved.
  void share() {
    if (group_) {
      nlohmann::json mine = {{"steps", nlohmann::json::object()}, {"searches", nlohmann::json::object()}};
      for (const auto& key : written_steps_) mine["steps"][key] = state_["steps"][key];
      for (const auto& key : written_searches_) mine["searches"][key] = state_["searches"][key];
      for (const auto& text : group_->exchange(mine.dump())) {
        const auto theirs = nlohmann::json::parse(text);
        for (auto it = theirs["steps"].begin(); it != theirs["steps"].end(); ++it) state_["steps"][it.key()] = it.value();
        for (auto it = theirs["searches"].begin(); it != theirs["searches"].end(); ++it) {
          state_["searches"][it.key()] = it.value();
        }
      }
    }
    written_steps_.clear();
    written_searches_.clear();
    recount();
    save();
  }

  // A candidate whose prepare() is a search (search_epochs > 0) searches once, on fold 0, before
  // the first rung (the rank that owns its fold 0); its folds and its final training take fold
  // 0's findings, which are choices (units, ratios), not weights fit to fold 0's images. The
  // search's work counts once in the spend, and not in the rate that prices the next rungs.
  void search(Entrant& e) {
    if (e.candidate.search_epochs <= 0 || state_["searches"].contains(e.candidate.label)) return;
    const auto dir = dir_ + "/race/" + e.candidate.label + "/fold0";
    fs::create_directories(dir);
    const auto start = std::chrono::steady_clock::now();
    const double work_before = train::training_work();
    const auto data = fold_data(0);
    const auto options = candidate_options(e.candidate, false);
    prepared_method(e.candidate, dir, data, options);
    state_["searches"][e.candidate.label] = {
        {"work", (train::training_work() - work_before) / unit_},
        {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
    written_searches_.push_back(e.candidate.label);
    recount();
    save();
  }

  // Trains entrant `e` on fold `f` up to `epochs` (continuing its checkpoint) and returns its best
  // validation accuracy so far; a step race.json already holds is not run again.
  double advance(Entrant& e, int64_t f, int64_t epochs) {
    const auto key = e.candidate.label + "/fold" + std::to_string(f);
    auto& steps = state_["steps"];
    if (steps.contains(key) && steps[key].value("epochs", 0) >= epochs) return read_step(e, steps[key]);
    const auto dir = dir_ + "/race/" + e.candidate.label + "/fold" + std::to_string(f);
    fs::create_directories(dir);
    const double work_before = train::training_work();
    const auto progress = train_candidate(e, f, dir, fold_data(f), epochs, false, nullptr);
    const double work = train::training_work() - work_before;
    auto& step = steps[key];
    if (!step.is_object()) step = nlohmann::json::object();
    const int64_t before = step.value("epochs", 0);
    step["epochs"] = epochs;
    step["best_val_accuracy"] = progress.value("best_val_accuracy", -1.0);
    step["val_images"] = fold_splits_[static_cast<size_t>(f)].second.size();
    step["work"] = step.value("work", 0.0) + work / unit_;
    step["trainable_params"] = e.trainable;
    step["history"] = progress.value("history", nlohmann::json::array());
    step["sessions"].push_back({{"session", state_["session"]}, {"from_epoch", before}, {"to_epoch", epochs},
                                {"rank", group_ ? group_->rank() : 0}});
    if (epochs > before) step["rate"] = work / unit_ * static_cast<double>(spec_.train.epochs) / (epochs - before);
    written_steps_.push_back(key);
    recount();
    save();
    return read_step(e, step);
  }

  // The winner's final training: on to --epochs in its fold-0 directory (one split), or again on
  // every training image (folds); the test split is read here, once. Returns the summary parts.
  nlohmann::json finish(Entrant& e, methods::MethodPtr& method) {
    std::string dir;
    train::TrainData data = in_.task;
    if (folds_ > 1) {
      dir = dir_ + "/race/" + e.candidate.label + "/all";
      data.splits.train_indices = pool_;
      data.splits.val_indices.clear();
      // What the winner's prepare() chose on fold 0 (angles, ratios) carries over: the
      // retraining has no validation split to choose by again.
      const auto chosen = dir_ + "/race/" + e.candidate.label + "/fold0/prepared.json";
      fs::create_directories(dir);
      if (main() && !fs::exists(dir + "/prepared.json") && fs::exists(chosen)) {
        fs::write_json_atomic(dir + "/prepared.json", fs::read_json(chosen));
      }
      if (group_) group_->exchange("");  // every rank reads what rank 0 wrote
    } else {
      dir = dir_ + "/race/" + e.candidate.label + "/fold0";
      data = fold_data(0);
      data.splits.test_indices = in_.task.splits.test_indices;
    }
    fs::create_directories(dir);
    const double work_before = train::training_work();
    train::TrainResult result;
    train_candidate(e, -1, dir, data, spec_.train.epochs, true, &result, &method);
    // Data-parallel over the ranks: each counted its shard of the images.
    std::vector<double> work{train::training_work() - work_before};
    if (group_) work = group_->sum(work);
    state_["final"] = {{"label", e.candidate.label}, {"dir", dir}, {"test_accuracy", result.test_accuracy},
                       {"work", state_.contains("final") ? state_["final"].value("work", 0.0) + work[0] / unit_
                                                         : work[0] / unit_}};
    recount();
    save();
    return result_summary(result);
  }

 private:
  // The spend, from the records: every step's training, every search once, the final training.
  void recount() {
    double spent = 0;
    for (const auto& step : state_["steps"]) spent += step.value("work", 0.0);
    if (state_.contains("searches")) {
      for (const auto& search : state_["searches"]) spent += search.value("work", 0.0);
    }
    if (state_.contains("final")) spent += state_["final"].value("work", 0.0);
    state_["spent"] = spent;
  }

  double read_step(Entrant& e, const nlohmann::json& step) const {
    e.trainable = step.value("trainable_params", int64_t{0});
    e.rate = std::max(e.rate, step.value("rate", 0.0));
    return step.value("best_val_accuracy", -1.0);
  }

  train::TrainData fold_data(int64_t f) const {
    train::TrainData data = in_.task;
    data.splits.train_indices = fold_splits_[static_cast<size_t>(f)].first;
    data.splits.val_indices = fold_splits_[static_cast<size_t>(f)].second;
    data.splits.test_indices.clear();  // no fitness can read the test split
    return data;
  }

  train::TrainOptions candidate_options(const methods::AutoCandidate& c, bool final_all) const {
    auto options = spec_.train;
    options.lr *= c.lr_scale;
    if (final_all) {
      options.patience = 0;  // no validation split left to stop on
      options.keep_best = false;
    }
    return options;
  }

  // The candidate's method, prepared in `dir`: restored from dir/prepared.json where it is there
  // (a fold of a searching candidate takes fold 0's), else prepare() runs and, when `write`,
  // leaves what it found there (the step's owner writes; in the final training, rank 0).
  methods::MethodPtr prepared_method(const methods::AutoCandidate& c, const std::string& dir,
                                     const train::TrainData& data, const train::TrainOptions& options,
                                     bool write = true) const {
    const auto& info = methods::find_method(c.method);
    auto options_ptr = info.make_options();
    options_from_json(*options_ptr, c.options, true, "--method auto candidate " + c.label);
    options_ptr->validate();
    auto method = info.create(*options_ptr);
    methods::PrepareContext context{in_.fresh_model, &data, &options, dir, true, in_.classes, in_.image_size, nullptr};
    context.search_dir = dir + "/search";
    context.features = features_;
    const auto prepared = dir + "/prepared.json";
    const auto fold0 = dir_ + "/race/" + c.label + "/fold0/prepared.json";
    if (c.search_epochs > 0 && prepared != fold0 && !fs::exists(prepared) && fs::exists(fold0)) {
      if (!write) {
        method->restore_prepared(fs::read_json(fold0).at("state"), context);
        return method;
      }
      fs::write_json_atomic(prepared, fs::read_json(fold0));
    }
    if (fs::exists(prepared)) {
      method->restore_prepared(fs::read_json(prepared).at("state"), context);
    } else {
      method->prepare(context);
      const auto state = method->prepared_state();
      if (write && !state.is_null()) fs::write_json_atomic(prepared, {{"method", c.method}, {"state", state}});
    }
    return method;
  }

  // One candidate run through the Trainer in `dir` (fold `fold`; -1: the final training,
  // data-parallel over the ranks): its prepared method, then training, continuing its
  // checkpoint, until `epochs` epochs are done. Returns the best validation accuracy and the
  // history.
  nlohmann::json train_candidate(Entrant& e, int64_t fold, const std::string& dir, const train::TrainData& data,
                                 int64_t epochs, bool test, train::TrainResult* result,
                                 methods::MethodPtr* keep = nullptr) {
    const bool final_training = fold < 0;
    const auto options = candidate_options(e.candidate, test && folds_ > 1);
    const auto checkpoint = dir + "/checkpoint";
    const auto progress = train::checkpoint_progress(checkpoint);
    auto method = prepared_method(e.candidate, dir, data, options, !final_training || main());
    method->attach(in_.fresh_model());
    // A step killed after its checkpoint but before race.json recorded it trains no further.
    if (!test && progress.is_object() && progress.value("epochs_done", int64_t{0}) >= epochs) return progress;
    train::TrainerHooks hooks;
    hooks.label = "auto " + e.candidate.label;
    hooks.checkpoint_dir = checkpoint;
    hooks.resume = progress.is_object();
    hooks.run_test = test;
    hooks.quiet = true;
    if (final_training) hooks.dist = group_;
    hooks.after_epoch = [epochs](int64_t epoch, double) { return epoch + 1 < epochs; };
    train::Trainer trainer(*method, options, data, hooks);
    auto r = trainer.fit();
    e.trainable = methods::count_params(*method->module(), true);
    if (result) *result = r;
    if (keep) *keep = method;
    return {{"best_val_accuracy", r.best_val_accuracy}, {"history", r.history}};
  }

  const JobSpec& spec_;
  const JobInputs& in_;
  std::string dir_;
  int64_t folds_;
  std::vector<size_t> pool_;
  std::vector<std::pair<std::vector<size_t>, std::vector<size_t>>> fold_splits_;
  std::shared_ptr<dist::Group> group_;
  // Every probe of the race (lp-ft's first stage on each fold and in the final) reads one
  // source's frozen features of the same images: each image's are computed once per process.
  std::shared_ptr<methods::FeatureCache> features_ = std::make_shared<methods::FeatureCache>();
  std::vector<std::string> written_steps_, written_searches_;  // this rank's records since the last share()
  double unit_ = 1;
  nlohmann::json state_;
};

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
