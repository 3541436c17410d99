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
  DataOptions options;                 // as opened
  std::vector<std::string> skipped;    // unreadable images left out (--skip-bad)
  nlohmann::json describe() const;     // counts per split, root, options: goes into config.json
};

// Root forms: a directory with train/ and test/ (or val/, used as test); "fashion-mnist" or
// "fashion-mnist:DIR" (IDX files, default /usr/share/datasets/fashion-mnist); and
// "decathlon:TRAIN_JSON,TEST_JSON[,IMAGE_ROOT]" (Visual Decathlon annotations; IMAGE_ROOT
// defaults to the parent of the annotation folder).
Splits open_splits(const DataOptions& options);

// Stratified seeded split of `pool` (indices into `dataset`): returns {train, val}, both sorted.
// Each class with >= 2 images keeps >= 1 image on each side when val_fraction > 0. shots > 0
// then keeps at most that many training images per class.
std::pair<std::vector<size_t>, std::vector<size_t>> stratified_split(
    const Dataset& dataset, const std::vector<size_t>& pool, double val_fraction, int64_t shots,
    uint64_t seed);

}  // namespace aft::data
