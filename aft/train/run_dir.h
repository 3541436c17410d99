// A run directory (--out RUN): config.json, model.safetensors, metrics.jsonl, summary.json,
// prepared.json (what a method's prepare() found), search/ (search journals) and checkpoint/.
// summary.json is written last, so its presence marks a finished run; a directory with
// config.json and no summary.json is an unfinished (resumable) run. The directory is locked
// while this object lives, and --overwrite replaces only an aft run that holds no input.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/core/output_dir.h"

namespace aft::train {

// What aft writes at the top of a run directory; config.json marks it as aft's.
const OutputKind& run_dir_kind();

class RunDir {
 public:
  // New run: refuses a folder aft did not write, an unfinished or finished run (unless
  // overwrite), and any folder that holds one of `inputs` (data, weights). Resume: requires an
  // unfinished aft run. Either way the directory is locked until destruction.
  RunDir(std::string path, bool overwrite, bool resume, const std::vector<std::string>& inputs = {});
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoint_dir() const { return file("checkpoint"); }
  bool resuming() const { return resume_; }
  nlohmann::json read_config() const;
  void write_config(const nlohmann::json& config) const;
  void write_summary(const nlohmann::json& summary) const;

 private:
  std::string path_;
  bool resume_;
  bool created_ = false;  // this object made the folder: removed again if the job wrote nothing
  std::unique_ptr<DirLock> lock_;
};

// True when `path` holds a run started by aft (config.json written by aft), finished or not.
bool is_run_dir(const std::string& path);

// Reads RUN/config.json and RUN/summary.json of a finished run; throws naming what is missing.
nlohmann::json read_finished_config(const std::string& run);

}  // namespace aft::train
