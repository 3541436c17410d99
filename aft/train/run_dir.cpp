#include "aft/train/run_dir.h"

#include <exception>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/manifest.h"

namespace aft::train {
namespace stdfs = std::filesystem;

const OutputKind& run_dir_kind() {
  static const OutputKind kind{"run directory", "config.json"};
  return kind;
}

std::string run_dir_problem(const std::string& path) {
  if (!fs::is_directory(path)) return "not a directory";
  if (!fs::exists(path + "/config.json")) return "it has no config.json, so aft did not start a run there";
  nlohmann::json config;
  try {
    config = fs::read_json(path + "/config.json");
  } catch (const Error& e) {
    return std::string("its config.json is truncated or damaged: ") + e.what();
  }
  if (!config.is_object() || !config.contains("aft_version")) return "its config.json was not written by aft";
  return "";
}

bool is_run_dir(const std::string& path) { return run_dir_problem(path).empty(); }

RunDir::RunDir(std::string path, bool overwrite, bool resume, const std::vector<std::string>& inputs)
    : path_(std::move(path)), resume_(resume), exceptions_(std::uncaught_exceptions()) {
  check(!path_.empty(), "--out: a run directory is required");
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  check_not_an_input(path_, inputs);
  if (resume_) {
    const std::string problem = run_dir_problem(path_);
    check(problem.empty(), "--resume ", path_, ": not an aft run directory to resume (", problem, ")");
    check(!fs::exists(file("summary.json")), "--resume ", path_, ": this run already finished (nothing to resume)");
    lock_ = std::make_unique<DirLock>(path_);
    manifest::track(path_);
    return;
  }
  // A folder aft did not write is refused before a lock file goes into it; one that holds a lock
  // may be another run just starting, which the lock below names.
  std::error_code ec;
  if (output_state(path_, run_dir_kind()) == OutputState::foreign && !stdfs::exists(file(DirLock::kName), ec)) {
    check_overwritable(path_, run_dir_kind(), inputs);
  }
  created_ = !stdfs::exists(path_, ec);
  stdfs::create_directories(path_, ec);
  check(!ec, "--out ", path_, ": cannot create the folder: ", ec.message());
  lock_ = std::make_unique<DirLock>(path_);
  // Under the lock, what is there cannot change under this process (but for a user's hand).
  const auto state = output_state(path_, run_dir_kind());
  if (state == OutputState::ours || state == OutputState::foreign) {
    // Only a folder aft wrote may be replaced; anything else is refused whatever the flags say.
    check_overwritable(path_, run_dir_kind(), inputs);
    const std::string problem = run_dir_problem(path_);
    const bool finished = fs::exists(file("summary.json"));
    check(overwrite || problem.empty(), "--out ", path_, ": holds an aft run that cannot be resumed (", problem,
          "); use --overwrite to replace it");
    check(overwrite || !finished, "--out ", path_, ": holds a finished run; use --overwrite to replace it");
    check(overwrite, "--out ", path_, ": holds an unfinished run; use --resume ", path_,
          " to continue it or --overwrite to replace it");
    const size_t left = manifest::remove_listed(path_);
    check(left == 0, "--out ", path_, ": files aft did not write appeared in it while it was being replaced; they are "
          "kept, and so is the rest of the old run's folder");
    replaced_ = true;
  }
  manifest::track(path_);
}

RunDir::~RunDir() {
  manifest::untrack(path_);
  const bool failed = std::uncaught_exceptions() > exceptions_;
  bool cleaned = false;
  if (failed && !resume_ && lock_) {
    // A new run that failed before it had anything to resume (weights that do not load, a data
    // problem found late) would leave a folder that only says "use --resume": it goes again.
    const bool resumable = fs::exists(file("checkpoint/state.json")) || fs::exists(file("checkpoint.old/state.json")) ||
                           fs::exists(file("search")) || fs::exists(file("prepared.json")) ||
                           fs::exists(file("race.json")) || fs::exists(file("race"));
    if (!resumable) {
      try {
        cleaned = manifest::remove_listed(path_) == 0;
      } catch (const Error&) {
        cleaned = false;  // already failing: the first error is the one reported
      }
    }
  }
  lock_.reset();
  if (created_ || (replaced_ && cleaned)) {
    // Only an empty folder is removed, and only one this job made or emptied of its own files.
    std::error_code ec;
    if (stdfs::is_empty(path_, ec) && !ec) stdfs::remove(path_, ec);
  }
}

nlohmann::json RunDir::read_config() const { return fs::read_json(file("config.json")); }
void RunDir::write_config(const nlohmann::json& config) const { fs::write_json_atomic(file("config.json"), config); }
void RunDir::write_summary(const nlohmann::json& summary) const { fs::write_json_atomic(file("summary.json"), summary); }

nlohmann::json read_finished_config(const std::string& run) {
  check(fs::is_directory(run), "--run ", run, ": not a directory");
  check(fs::exists(run + "/summary.json"), "--run ", run, ": not a finished run (no summary.json)");
  check(fs::exists(run + "/model.safetensors"), "--run ", run, ": model.safetensors is missing");
  return fs::read_json(run + "/config.json");
}

}  // namespace aft::train
