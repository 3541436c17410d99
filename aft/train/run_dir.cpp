#include "aft/train/run_dir.h"

#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::train {
namespace stdfs = std::filesystem;

const OutputKind& run_dir_kind() {
  static const OutputKind kind{"run directory",
                               "config.json",
                               {"config.json", "summary.json", "model.safetensors", "metrics.jsonl", "checkpoint",
                                "checkpoint.old", "tb", "prepared.json", "search", "report.html", "race", "race.json"}};
  return kind;
}

bool is_run_dir(const std::string& path) {
  if (output_state(path, run_dir_kind()) != OutputState::ours) return false;
  try {
    return fs::read_json(path + "/config.json").contains("aft_version");
  } catch (const Error&) {
    return false;
  }
}

RunDir::RunDir(std::string path, bool overwrite, bool resume, const std::vector<std::string>& inputs)
    : path_(std::move(path)), resume_(resume) {
  check(!path_.empty(), "--out: a run directory is required");
  const bool finished = fs::exists(file("summary.json"));
  if (resume_) {
    check(is_run_dir(path_), "--resume ", path_, ": not an aft run directory (no config.json written by aft)");
    check(!finished, "--resume ", path_, ": this run already finished (nothing to resume)");
    lock_ = std::make_unique<DirLock>(path_);
    return;
  }
  const auto state = output_state(path_, run_dir_kind());
  if (state == OutputState::ours || state == OutputState::foreign) {
    // Only a folder aft wrote may be replaced; anything else is refused whatever the flags say.
    check_overwritable(path_, run_dir_kind(), inputs);
    check(is_run_dir(path_), "--out ", path_, ": its config.json was not written by aft; choose another --out");
    lock_ = std::make_unique<DirLock>(path_);  // a run another process is writing is refused first
    check(overwrite || !finished, "--out ", path_, ": holds a finished run; use --overwrite to replace it");
    check(overwrite, "--out ", path_, ": holds an unfinished run; use --resume ", path_,
          " to continue it or --overwrite to replace it");
    for (const auto& entry : stdfs::directory_iterator(path_)) {
      if (entry.path().filename() != DirLock::kName) fs::remove_all(entry.path().string());
    }
    return;
  }
  for (const auto& input : inputs) {
    check(input.empty() || !path_within(input, path_), "--out ", path_, ": holds this job's input ", input,
          "; choose another --out");
  }
  created_ = state == OutputState::absent;
  fs::create_directories(path_);
  lock_ = std::make_unique<DirLock>(path_);
}

RunDir::~RunDir() {
  lock_.reset();
  if (created_) {
    // A job that failed before writing anything leaves no empty folder behind (only removes an empty one).
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
