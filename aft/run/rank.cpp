#include "aft/run/rank.h"

#include <torch/torch.h>

#include <chrono>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/data/loader.h"
#include "aft/data/splits.h"
#include "aft/models/safetensors.h"
#include "aft/models/source.h"
#include "aft/models/weights.h"
#include "aft/run/job.h"
#include "aft/search/transferability.h"

namespace aft::run {

std::vector<SourceScore> rank_sources(const RankSpec& spec) {
  check(!spec.weights.empty(), "aft rank: give at least one --weights");
  check(spec.max_per_class >= 0, "--max-per-class ", spec.max_per_class, ": expected >= 0");
  data::DataOptions data_options;
  data_options.root = spec.data;
  data_options.val_fraction = 0;  // every training image counts; validation and test are never read
  data_options.shots = spec.max_per_class;
  data_options.seed = spec.seed;
  const auto splits = data::open_splits(data_options);
  train::TrainOptions transform_options;
  transform_options.transform = spec.transform;
  transform_options.image_size = spec.image_size;
  const auto tf = resolve_transform(transform_options, splits);
  const auto transform = data::make_preset(tf.preset, false, tf.size);
  const auto device = parse_device(spec.device);
  const auto classes = static_cast<int64_t>(splits.classes.size());
  std::vector<SourceScore> out;
  for (const auto& given : spec.weights) {
    const auto start = std::chrono::steady_clock::now();
    SourceScore row;
    row.weights = models::resolve_weights_path(given);
    const auto meta = safetensors::read(row.weights).metadata;
    const auto found = meta.count("num_classes") ? parse_integer(meta.at("num_classes")) : std::nullopt;
    check(found && *found > 0, row.weights, ": metadata names no num_classes; LEEP and NCE need the source's own head");
    row.source_classes = *found;
    models::ModelOptions model_options;
    model_options.weights = row.weights;
    auto config = models::resolve_model_config(model_options, row.weights, row.source_classes, transform->output_size());
    row.arch = config.arch;
    auto model = models::build_model(config);
    models::load_weights(*model, row.weights, {});  // the source's own head: LEEP and NCE read it
    model->to(device);
    model->eval();
    data::LoaderOptions lo;
    lo.batch_size = spec.batch_size;
    lo.threads = spec.workers;
    data::Loader loader(splits.train, splits.train_indices, transform, lo);
    std::vector<torch::Tensor> features, probs, labels;
    {
      torch::NoGradGuard no_grad;
      data::Batch batch;
      loader.start_epoch(0);
      while (loader.next(batch)) {
        const auto f = model->features(batch.images.to(device));
        features.push_back(f.to(torch::kCPU, torch::kFloat64));
        probs.push_back(torch::softmax(model->head(f).to(torch::kFloat64), 1).cpu());
        labels.push_back(batch.labels);
      }
    }
    const auto f = torch::cat(features), p = torch::cat(probs), y = torch::cat(labels);
    row.images = f.size(0);
    row.logme = search::logme(f, y, classes);
    row.leep = search::leep(p, y, classes);
    row.nce = search::nce(p, y, classes);
    row.h_score = search::h_score(f, y, classes);
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.push_back(row);
  }
  return out;
}

}  // namespace aft::run
