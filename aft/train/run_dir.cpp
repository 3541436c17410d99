#include "aft/train/run_dir.h"

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/train/checkpoint.h"

namespace aft::train {

RunDir::RunDir(std::string path, bool overwrite, bool resume) : path_(std::move(path)), resume_(resume) {
  check(!path_.empty(), "--out: a run directory is required");
  const bool finished = fs::exists(file("summary.json"));
  if (resume_) {
    check(!finished, path_, ": this run already finished (nothing to resume)");
    check(has_checkpoint(checkpoint_dir()), path_, ": no checkpoint to resume from");
    return;
  }
  if (fs::exists(path_) && !overwrite) {
    check(!finished, path_, ": holds a finished run; use --overwrite to replace it");
    check(!has_checkpoint(checkpoint_dir()), path_,
          ": holds an unfinished run; use --resume ", path_, " to continue it or --overwrite to replace it");
  }
  if (overwrite) fs::remove_all(path_);
  fs::create_directories(path_);
  // A new run starts with empty metrics; stale files from an aborted start would mislead.
  fs::remove_all(file("metrics.jsonl"));
  fs::remove_all(file("tb"));
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
