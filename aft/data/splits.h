// Opens a dataset root as train / validation / test index lists. Validation is carved from
// train (stratified, seeded); --shots keeps N training images per class (seeded). The test
// split is only read for the final evaluation.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

struct DataOptions {
  std::string root;            // ROOT/{train,test|val}/<class>/* ; or "fashion-mnist[:DIR]", "decathlon:..."
  double val_fraction = 0.1;   // fraction of each training class held out for validation
  int64_t shots = 0;           // >0: keep this many training images per class (after the val split)
  uint64_t seed = 0;
  bool cache = true;           // keep decoded uint8 images in memory when they fit
  bool skip_bad = false;       // skip unreadable images (counted) instead of failing
};

struct Splits {
  std::vector<std::string> classes;
  DatasetPtr train;                    // the pool that train and validation indices refer to
  DatasetPtr test;
  std::vector<size_t> train_indices;
  std::vector<size_t> val_indices;
  std::vector<size_t> test_indices;
  nlohmann::json describe() const;     // counts per split, root, options: goes into config.json
};

Splits open_splits(const DataOptions& options);

}  // namespace aft::data
