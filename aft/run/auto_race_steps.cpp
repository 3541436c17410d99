#include "aft/run/auto_race_steps.h"

#include <torch/torch.h>

#include <algorithm>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/methods/feature_cache.h"
#include "aft/train/checkpoint.h"
#include "aft/train/work.h"

namespace aft::run {

Race::Race(const JobSpec& spec, const JobInputs& in, std::string dir, int64_t folds, bool resuming)
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
  // With --shots the pool is the shots alone: the validation split was carved before them, from
  // every image, and would give the race and the retraining far more images than the user allowed
  // (and than the budget's unit counts).
  auto pool = in_.task.splits.train_indices;
  if (spec_.train.shots <= 0) {
    pool.insert(pool.end(), in_.task.splits.val_indices.begin(), in_.task.splits.val_indices.end());
  }
  std::sort(pool.begin(), pool.end());
  pool_ = pool;
  if (folds_ > 1) {
    fold_splits_ = k_folds(*in_.task.splits.train, pool, folds_, static_cast<uint64_t>(spec_.train.seed));
  } else {
    fold_splits_ = {{in_.task.splits.train_indices, in_.task.splits.val_indices}};
  }
  unit_ = static_cast<double>(in_.task.splits.train_indices.size()) * static_cast<double>(spec_.train.epochs);
}

void Race::save() const {
  if (main()) fs::write_json_atomic(dir_ + "/race.json", state_);
}

int64_t Race::features_computed() const { return features_->computed(); }

void Race::add_seconds(std::chrono::steady_clock::time_point start) {
  state_["seconds"] = seconds() + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Race::share() {
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

void Race::search(Entrant& e) {
  if (e.candidate.search_epochs <= 0 || state_["searches"].contains(e.candidate.label)) return;
  const auto dir = step_dir(e.candidate.label, "fold0");
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

void Race::advance(Entrant& e, int64_t f, int64_t epochs) {
  const auto key = step_key(e.candidate.label, f);
  auto& steps = state_["steps"];
  if (steps.contains(key) && steps[key].value("epochs", 0) >= epochs) return;
  const auto dir = step_dir(e.candidate.label, "fold" + std::to_string(f));
  fs::create_directories(dir);
  const auto progress = train_candidate(e, f, dir, fold_data(f), epochs, false, nullptr);
  // The step's work is its run's own total, every rung so far: its checkpoint keeps it, so a step
  // recovered after a kill (trained, but not yet in race.json) keeps the work it did.
  const double work = progress.value("work", 0.0) / unit_;
  auto& step = steps[key];
  if (!step.is_object()) step = nlohmann::json::object();
  const int64_t before = step.value("epochs", 0);
  const double work_before = step.value("work", 0.0);
  step["epochs"] = epochs;
  step["best_val_accuracy"] = progress.value("best_val_accuracy", -1.0);
  step["val_images"] = fold_splits_[static_cast<size_t>(f)].second.size();
  step["work"] = work;
  step["trainable_params"] = e.standing.trainable;
  step["history"] = progress.value("history", nlohmann::json::array());
  step["sessions"].push_back({{"session", state_["session"]}, {"from_epoch", before}, {"to_epoch", epochs},
                              {"rank", group_ ? group_->rank() : 0}});
  if (epochs > before) {
    step["rate"] = (work - work_before) * static_cast<double>(spec_.train.epochs) / static_cast<double>(epochs - before);
  }
  written_steps_.push_back(key);
  recount();
  save();
}

nlohmann::json Race::finish(Entrant& e, methods::MethodPtr& method) {
  std::string dir;
  train::TrainData data = in_.task;
  if (folds_ > 1) {
    dir = step_dir(e.candidate.label, "all");
    data.splits.train_indices = pool_;
    data.splits.val_indices.clear();
    // What the winner's prepare() chose on fold 0 (angles, ratios) carries over: the
    // retraining has no validation split to choose by again.
    const auto chosen = step_dir(e.candidate.label, "fold0") + "/prepared.json";
    fs::create_directories(dir);
    if (main() && !fs::exists(dir + "/prepared.json") && fs::exists(chosen)) {
      fs::write_json_atomic(dir + "/prepared.json", fs::read_json(chosen));
    }
    if (group_) group_->exchange("");  // every rank reads what rank 0 wrote
  } else {
    dir = step_dir(e.candidate.label, "fold0");
    data = fold_data(0);
    data.splits.test_indices = in_.task.splits.test_indices;
  }
  fs::create_directories(dir);
  train::TrainResult result;
  train_candidate(e, -1, dir, data, spec_.train.epochs, true, &result, &method);
  // Data-parallel over the ranks: each counted its shard of the images (a resumed final, rank 0's
  // checkpointed count on every rank: the shards are equal to within one batch).
  // One split: the final continued the fold-0 step's run, whose work race.json counts already;
  // every rank resumed that checkpoint, so each takes it off its own count.
  const auto key = step_key(e.candidate.label, 0);
  const double continued = folds_ == 1 && state_["steps"].contains(key) ? state_["steps"][key].value("work", 0.0) : 0.0;
  std::vector<double> work{result.work / unit_ - continued};
  if (group_) work = group_->sum(work);
  state_["final"] = {{"label", e.candidate.label}, {"dir", dir}, {"test_accuracy", result.test_accuracy},
                     {"work", work[0]}};
  recount();
  save();
  return result_summary(result);
}

void Race::recount() {
  double spent = 0;
  for (const auto& step : state_["steps"]) spent += step.value("work", 0.0);
  if (state_.contains("searches")) {
    for (const auto& search : state_["searches"]) spent += search.value("work", 0.0);
  }
  if (state_.contains("final")) spent += state_["final"].value("work", 0.0);
  state_["spent"] = spent;
}

void Race::read_standing(Entrant& e) const {
  const auto& steps = state_.at("steps");
  e.standing.folds.clear();
  // A search chose on fold 0 (search()); with other folds to judge it by, fold 0 is not scored.
  e.standing.chosen_on = folds_ > 1 && e.candidate.search_epochs > 0 ? 0 : -1;
  for (int64_t f = 0; f < folds_; ++f) {
    const auto key = step_key(e.candidate.label, f);
    check(steps.contains(key), "race.json: no record of ", key, " after its rung");
    const auto& step = steps.at(key);
    e.standing.trainable = step.value("trainable_params", int64_t{0});
    e.standing.rate = std::max(e.standing.rate, step.value("rate", 0.0));
    e.standing.val_images = step.value("val_images", int64_t{0});
    e.standing.folds.push_back(step.value("best_val_accuracy", -1.0));
  }
}

train::TrainData Race::fold_data(int64_t f) const {
  train::TrainData data = in_.task;
  data.splits.train_indices = fold_splits_[static_cast<size_t>(f)].first;
  data.splits.val_indices = fold_splits_[static_cast<size_t>(f)].second;
  data.splits.test_indices.clear();  // no fitness can read the test split
  return data;
}

train::TrainOptions Race::candidate_options(const methods::AutoCandidate& c, bool final_all) const {
  auto options = spec_.train;
  options.lr *= c.lr_scale;
  if (final_all) {
    options.patience = 0;  // no validation split left to stop on
    options.keep_best = false;
  }
  return options;
}

methods::MethodPtr Race::prepared_method(const methods::AutoCandidate& c, const std::string& dir,
                                         const train::TrainData& data, const train::TrainOptions& options,
                                         bool write) const {
  const auto& info = methods::find_method(c.method);
  auto options_ptr = info.make_options();
  options_from_json(*options_ptr, c.options, true, "--method auto candidate " + c.label);
  options_ptr->validate();
  auto method = info.create(*options_ptr);
  methods::PrepareContext context{in_.fresh_model, &data, &options, dir, true, in_.classes, in_.image_size, nullptr};
  context.search_dir = dir + "/search";
  context.features = features_;
  const auto prepared = dir + "/prepared.json";
  const auto fold0 = step_dir(c.label, "fold0") + "/prepared.json";
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

nlohmann::json Race::train_candidate(Entrant& e, int64_t fold, const std::string& dir, const train::TrainData& data,
                                     int64_t epochs, bool test, train::TrainResult* result,
                                     methods::MethodPtr* keep) {
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
  e.standing.trainable = methods::count_params(*method->module(), true);
  if (result) *result = r;
  if (keep) *keep = method;
  return {{"best_val_accuracy", r.best_val_accuracy}, {"history", r.history}, {"work", r.work}};
}

}  // namespace aft::run
