#include "aft/run/run_data.h"

#include <algorithm>

#include "aft/data/transforms.h"
#include "aft/models/model.h"
#include "aft/models/source.h"

namespace aft::run {

ResolvedTransform resolve_transform(const train::TrainOptions& o, const data::Splits& splits, const std::string& arch) {
  std::string preset = o.transform;
  int64_t size = o.image_size;
  if (preset == "auto") {
    const auto first = splits.train->image(splits.train_indices.front());
    const int64_t side = std::max(first.height, first.width);
    // Small images get the small-image recipe; no flip by default because a mirror is not
    // label-preserving for every task (characters, digits). Larger ones get the recipe the
    // architecture's pretrained weights were made with, and small ones its normalisation.
    const std::string norm = models::input_normalization(arch);
    if (side <= 64) {
      preset = norm == "imagenet" ? "small-noflip" : "small-noflip:" + norm;
    } else {
      preset = norm == "inception" ? "lite" : "imagenet224";
    }
    if (size == 0 && side <= 64) size = side < 32 ? 32 : side;
  }
  if (size == 0) size = data::make_preset(preset, false, 0)->output_size();
  return {preset, size};
}

data::DataOptions split_options(const std::string& root, const train::TrainOptions& train) {
  data::DataOptions o;
  o.root = root;
  o.val_fraction = train.val_fraction;
  o.shots = train.shots;
  o.seed = static_cast<uint64_t>(train.seed);
  o.skip_bad = train.skip_bad;
  return o;
}

data::Splits reopen_splits(const nlohmann::json& config, const std::string& root) {
  train::TrainOptions train;
  options_from_json(train, config.at("train"), false, "the run's config.json");
  return data::open_splits(split_options(root.empty() ? config.at("data").get<std::string>() : root, train));
}

}  // namespace aft::run
