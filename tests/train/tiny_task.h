// A tiny, separable, in-memory classification task and model for training tests: each class
// is a colour with noise, so a few epochs of a small ResNet must learn it.
#pragma once
#include <torch/torch.h>

#include <random>

#include "aft/data/splits.h"
#include "aft/data/transforms.h"
#include "aft/models/model.h"
#include "aft/train/trainer.h"

namespace aft::testing {

class ColourDataset : public data::Dataset {
 public:
  ColourDataset(int64_t classes, int64_t per_class, int64_t size, uint64_t seed) : size_(size) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> noise(-40, 40);
    for (int64_t c = 0; c < classes; ++c) {
      classes_.push_back("class" + std::to_string(c));
      for (int64_t i = 0; i < per_class; ++i) {
        data::Image image{size, size, std::vector<uint8_t>(size * size * 3)};
        for (int64_t p = 0; p < size * size; ++p) {
          for (int ch = 0; ch < 3; ++ch) {
            const int base = ((c >> ch) & 1) ? 190 : 60;
            image.pixels[p * 3 + ch] = static_cast<uint8_t>(std::clamp(base + noise(rng), 0, 255));
          }
        }
        images_.push_back(std::move(image));
        labels_.push_back(c);
      }
    }
  }
  size_t size() const override { return images_.size(); }
  int64_t label(size_t i) const override { return labels_[i]; }
  data::Image image(size_t i) const override { return images_[i]; }
  std::string describe(size_t i) const override { return "colour#" + std::to_string(i); }

 private:
  int64_t size_;
  std::vector<data::Image> images_;
  std::vector<int64_t> labels_;
};

inline train::TrainData tiny_task(int64_t classes = 3, int64_t per_class = 24, uint64_t seed = 1) {
  train::TrainData task;
  auto train = std::make_shared<ColourDataset>(classes, per_class, 16, seed);
  auto test = std::make_shared<ColourDataset>(classes, per_class / 2, 16, seed + 100);
  task.splits.classes = train->classes();
  task.splits.train = train;
  task.splits.test = test;
  for (size_t i = 0; i < train->size(); ++i) (i % 4 == 0 ? task.splits.val_indices : task.splits.train_indices).push_back(i);
  for (size_t i = 0; i < test->size(); ++i) task.splits.test_indices.push_back(i);
  task.train_transform = data::make_preset("small-noflip", true, 16);
  task.eval_transform = data::make_preset("small-noflip", false, 16);
  return task;
}

inline models::ModelPtr tiny_resnet(int64_t classes = 3, uint64_t seed = 0) {
  torch::manual_seed(seed);
  models::ModelConfig c;
  c.arch = "resnet18";
  c.stem = "small";
  c.width = 0.125;
  c.num_classes = classes;
  c.image_size = 16;
  return models::build_model(c);
}

inline train::TrainOptions tiny_options(int64_t epochs = 2) {
  train::TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 16;
  o.lr = 0.05;
  o.threads = 1;
  o.workers = 2;
  o.device = "cpu";
  o.schedule = "cosine";
  return o;
}

}  // namespace aft::testing
