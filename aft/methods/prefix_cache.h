// Outputs of a network's frozen leading pieces, kept by image content. When the training
// images repeat exactly (no augmentation) and the frozen pieces are a fixed function (no
// batch-norm statistics updating inside them), those pieces need running once per image, not
// once per epoch and once per search particle (multisource.md: "their outputs can even be
// cached across proxy epochs"). The multi-source method decides when that holds.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "aft/models/model.h"

namespace aft::methods {

class PrefixCache {
 public:
  // Entries stop being added once they hold `budget_bytes`; lookups go on.
  explicit PrefixCache(int64_t budget_bytes) : budget_(budget_bytes) {}

  // The output of pieces [0, pieces) of `model` for every image of the batch: cached rows where
  // present, the misses run together without gradient and stored. `tag` keeps apart models
  // that share the cache (the sources of an ensemble); a key also holds `pieces`, so particles
  // of a search that freeze different prefixes never mix.
  torch::Tensor run(models::VisionModel& model, int64_t tag, int64_t pieces, const torch::Tensor& images);

  struct Stats {
    int64_t hits = 0, misses = 0, entries = 0, bytes = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Key {
    int64_t tag, pieces;
    uint64_t content;
    bool operator==(const Key& o) const { return tag == o.tag && pieces == o.pieces && content == o.content; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  int64_t budget_;
  std::unordered_map<Key, torch::Tensor, KeyHash> entries_;
  Stats stats_;
};

// A 64-bit hash of each image's bytes (dimension 0 indexes the images).
std::vector<uint64_t> content_hashes(const torch::Tensor& images);

}  // namespace aft::methods
