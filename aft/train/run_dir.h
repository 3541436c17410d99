// A run directory (--out RUN): config.json, model.safetensors, metrics.jsonl, summary.json,
// prepared.json (what a method's prepare() found), search/ (search journals) and checkpoint/.
// summary.json is written last, so its presence marks a finished run; a directory with
// config.json and no summary.json is an unfinished (resumable) run. The directory is locked
// while this object lives, and --overwrite replaces only an aft run that holds no input and
// whose manifest (aft/core/manifest.h) lists every file in it. A new run that fails before it
// has anything to resume (weights that do not load) removes what it wrote.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/core/output_dir.h"

namespace aft::train {

// config.json marks a run directory as aft's; its manifest lists what aft wrote in it.
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
  bool replaced_ = false;  // this object removed an earlier run from the folder
  int exceptions_ = 0;     // std::uncaught_exceptions() at construction: more at destruction is a failure
  std::unique_ptr<DirLock> lock_;
};

// True when `path` holds a run started by aft (config.json written by aft), finished or not.
bool is_run_dir(const std::string& path);
// Why `path` is not a run started by aft ("no config.json", "its config.json is truncated or not
// valid JSON"), or "" when it is one.
std::string run_dir_problem(const std::string& path);

// Reads RUN/config.json and RUN/summary.json of a finished run; throws naming what is missing.
nlohmann::json read_finished_config(const std::string& run);

}  // namespace aft::train
