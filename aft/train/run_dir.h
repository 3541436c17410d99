// A run directory (--out RUN): config.json, model.safetensors, metrics.jsonl, summary.json
// and checkpoint/. summary.json is written last, so its presence marks a finished run;
// a directory without it is an unfinished (resumable) run.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace aft::train {

class RunDir {
 public:
  // mode: "new" refuses an existing run unless overwrite; "resume" requires a checkpoint.
  RunDir(std::string path, bool overwrite, bool resume);
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
};

// Reads RUN/config.json and RUN/summary.json of a finished run; throws naming what is missing.
nlohmann::json read_finished_config(const std::string& run);

}  // namespace aft::train
