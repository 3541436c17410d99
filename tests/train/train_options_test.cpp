// Recipes and schedules: a preset's drops scale with the run's epochs, and bad values are refused.
#include "aft/train/train_options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "aft/core/error.h"
#include "aft/train/schedule.h"

namespace {

using aft::train::TrainOptions;

TEST(TrainOptions, FractionalMilestonesScaleWithTheEpochs) {
  TrainOptions o;
  o.schedule = "multistep";
  o.milestones = "40/110,60/110,80/110";
  o.epochs = 110;
  EXPECT_EQ(o.milestone_list(), (std::vector<int64_t>{40, 60, 80}));
  o.epochs = 20;  // 7.27, 10.9, 14.5 rounded
  EXPECT_EQ(o.milestone_list(), (std::vector<int64_t>{7, 11, 15}));
  o.milestones = "3,1/2";
  EXPECT_EQ(o.milestone_list(), (std::vector<int64_t>{3, 10}));
  for (const char* bad : {"4a,6", "1/0", "3,", "a/b", "/4"}) {
    o.milestones = bad;
    EXPECT_THROW(o.milestone_list(), aft::Error) << bad;
  }
}

TEST(TrainOptions, SpotTunePresetIsTheReferenceRecipe) {
  TrainOptions o;
  aft::train::apply_preset(o, "spottune");
  EXPECT_EQ(o.lr, 0.1);
  EXPECT_EQ(o.momentum, 0.9);
  EXPECT_EQ(o.schedule, "multistep");
  EXPECT_EQ(o.gamma, 0.1);
  o.epochs = 11;  // the intended drops at 40/60/80 of 110 epochs: 4, 6, 8 of 11
  EXPECT_EQ(o.milestone_list(), (std::vector<int64_t>{4, 6, 8}));
  // The rate before, between and after the drops.
  EXPECT_NEAR(aft::train::lr_factor(o, 3, 0, 1), 1.0, 1e-12);
  EXPECT_NEAR(aft::train::lr_factor(o, 4, 0, 1), 0.1, 1e-12);
  EXPECT_NEAR(aft::train::lr_factor(o, 8, 0, 1), 0.001, 1e-12);
  EXPECT_THROW(aft::train::apply_preset(o, "nope"), aft::Error);
}

TEST(TrainOptions, OutOfRangeValuesAreRefused) {
  const auto refused = [](auto change) {
    TrainOptions o;
    change(o);
    EXPECT_THROW(o.validate(), aft::Error);
  };
  refused([](TrainOptions& o) { o.lr = std::numeric_limits<double>::infinity(); });
  refused([](TrainOptions& o) { o.lr = std::nan(""); });
  refused([](TrainOptions& o) { o.epochs = 0; });
  refused([](TrainOptions& o) { o.threads = -3; });
  refused([](TrainOptions& o) { o.image_size = 1; });
  refused([](TrainOptions& o) { o.momentum = 1.5; });
  refused([](TrainOptions& o) { o.patience = -1; });
  refused([](TrainOptions& o) {
    o.patience = 2;
    o.val_fraction = 0;
  });
  TrainOptions fine;
  EXPECT_NO_THROW(fine.validate());
}

}  // namespace
