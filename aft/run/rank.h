// `aft rank`: transferability scores of candidate sources on a target's training images (one
// forward pass each, no fine-tuning; aft/search/transferability.h), for choosing sources before
// any training: multisource's, or the weights a single-source job starts from.
#pragma once
#include <string>
#include <vector>

namespace aft::run {

struct RankSpec {
  std::string data;                   // the target: DIR with train/ (validation and test are not read)
  std::vector<std::string> weights;   // candidate sources (.safetensors or run directories)
  std::string transform = "auto";     // the eval transform's preset
  int64_t image_size = 0;
  int64_t max_per_class = 0;          // > 0: score at most this many training images per class (seeded)
  int64_t batch_size = 128;
  int workers = 2;
  std::string device = "cpu";
  uint64_t seed = 0;
};

struct SourceScore {
  std::string weights;  // as resolved
  std::string arch;
  int64_t source_classes = 0;
  int64_t images = 0;
  double logme = 0, leep = 0, nce = 0, h_score = 0;
  double seconds = 0;
};

// One score row per source, in the order given.
std::vector<SourceScore> rank_sources(const RankSpec& spec);

}  // namespace aft::run
