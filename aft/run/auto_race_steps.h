// One `--method auto` race's steps and records (auto_race.h runs the race; this keeps its state).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "aft/dist/process_group.h"
#include "aft/methods/auto_options.h"
#include "aft/methods/registry.h"
#include "aft/run/job.h"
#include "aft/run/race_policy.h"
#include "aft/train/trainer.h"

namespace aft::methods {
class FeatureCache;
}

namespace aft::run {

struct Entrant {
  methods::AutoCandidate candidate;
  Standing standing;  // its figures so far (race_policy.h): per-fold fitness, trainable, rate
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
  Race(const JobSpec& spec, const JobInputs& in, std::string dir, int64_t folds, bool resuming);

  // How many sessions (the first run and each resume) this race has had.
  int64_t sessions() const { return state_.value("session", int64_t{0}); }
  void save() const;
  double spent() const { return state_.value("spent", 0.0); }
  double unit() const { return unit_; }
  double seconds() const { return state_.value("seconds", 0.0); }
  int64_t features_computed() const;
  // The images the race trains and validates on (folds: split among them; the final trains on all).
  size_t pool_size() const { return pool_.size(); }
  bool main() const { return !group_ || group_->is_main(); }
  int world() const { return group_ ? group_->world() : 1; }
  // The rank that trains entrant `index` (its place among all candidates) on fold `f`: fixed for
  // the whole race, and the folds of one candidate on different ranks where there are enough.
  bool mine(size_t index, int64_t f) const {
    return (static_cast<int64_t>(index) * folds_ + f) % world() == (group_ ? group_->rank() : 0);
  }

  void add_seconds(std::chrono::steady_clock::time_point start);

  // The meeting after a phase of steps: every rank sends the records it wrote since the last
  // one and takes everyone else's. Then the spend is recounted from the records, and saved.
  void share();

  // A candidate whose prepare() is a search (search_epochs > 0) searches once, on fold 0, before
  // the first rung (the rank that owns its fold 0); its folds and its final training take fold
  // 0's findings, which are choices (units, ratios), not weights fit to fold 0's images. The
  // search's work counts once in the spend, and not in the rate that prices the next rungs.
  void search(Entrant& e);

  // Trains entrant `e` on fold `f` up to `epochs` (continuing its checkpoint) and records the
  // step in race.json; a step race.json already holds is not run again.
  void advance(Entrant& e, int64_t f, int64_t epochs);
  // Entrant `e`'s standing after the rung (every rank holds every step after share()): its best
  // validation accuracy on each fold, its trainable parameters and its measured rate.
  void read_standing(Entrant& e) const;

  // The winner's final training: on to --epochs in its fold-0 directory (one split), or again on
  // every training image (folds); the test split is read here, once. Returns the summary parts.
  nlohmann::json finish(Entrant& e, methods::MethodPtr& method);

 private:
  // Where a candidate's runs live, RUN/race/LABEL/{fold0, fold1, ..., all}, and a step's key in
  // race.json, LABEL/foldF: spelled here only.
  std::string step_dir(const std::string& label, const std::string& part) const {
    return dir_ + "/race/" + label + "/" + part;
  }
  static std::string step_key(const std::string& label, int64_t fold) { return label + "/fold" + std::to_string(fold); }

  // The spend, from the records: every step's training, every search once, the final training.
  void recount();

  train::TrainData fold_data(int64_t f) const;
  train::TrainOptions candidate_options(const methods::AutoCandidate& c, bool final_all) const;

  // The candidate's method, prepared in `dir`: restored from dir/prepared.json where it is there
  // (a fold of a searching candidate takes fold 0's), else prepare() runs and, when `write`,
  // leaves what it found there (the step's owner writes; in the final training, rank 0).
  methods::MethodPtr prepared_method(const methods::AutoCandidate& c, const std::string& dir,
                                     const train::TrainData& data, const train::TrainOptions& options,
                                     bool write = true) const;

  // One candidate run through the Trainer in `dir` (fold `fold`; -1: the final training,
  // data-parallel over the ranks): its prepared method, then training, continuing its
  // checkpoint, until `epochs` epochs are done. Returns the best validation accuracy and the
  // history.
  nlohmann::json train_candidate(Entrant& e, int64_t fold, const std::string& dir, const train::TrainData& data,
                                 int64_t epochs, bool test, train::TrainResult* result,
                                 methods::MethodPtr* keep = nullptr);

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

}  // namespace aft::run
