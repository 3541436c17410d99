// aft soup: average the weights of finished runs (uniformly, or greedily by validation
// accuracy) into a new run directory that `aft eval --run` opens like any other. The recipe's
// pieces live in aft/methods/soup.h; this is the whole job around them.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/train/train_options.h"

namespace aft::run {

struct SoupSpec {
  std::vector<std::string> runs;  // finished run directories (the ingredients)
  std::string data;               // dataset root; empty: the ingredients' own
  std::string mode = "greedy";    // uniform|greedy
  std::string out;                // run directory to write
  bool recalibrate_bn = false;    // recompute averaged batch-norm statistics on training images
  bool overwrite = false;
  train::RuntimeOptions runtime;  // --device, --threads, --workers, --max-image-pixels
  int64_t batch_size = 128;       // evaluation / recalibration batch
  bool quiet = false;
};

// Builds the soup, writes OUT (config.json, model.safetensors, summary.json) atomically, and
// returns the summary.
nlohmann::json make_soup(const SoupSpec& spec);

}  // namespace aft::run
