// Every method on an EfficientNet-Lite source (docs/efficientnet.md, "What methods see"): each
// registered method fine-tunes efficientnet_lite0 end to end on a tiny task, and the ones that
// restrict what trains report a strict subset; SpotTune routes all 16 MBConv blocks, LoRA adapts
// the 1x1 convolutions only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/fs.h"
#include "aft/methods/registry.h"
#include "aft/run/job.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

TEST(EfficientNetMethods, EveryMethodFineTunesLite0) {
  namespace dt = aft::data::testing;
  const std::string dir = dt::temp_dir("lite_methods");
  dt::make_folder(dir + "/data", {"a", "b", "c"}, 12, 4);
  const auto job = [&](const std::string& command, const std::string& out) {
    aft::run::JobSpec spec;
    spec.command = command;
    spec.data = dir + "/data";
    spec.out = dir + "/" + out;
    spec.train = aft::testing::tiny_options(1);
    spec.train.val_fraction = 0.25;
    spec.train.batch_size = 8;
    spec.train.image_size = 32;
    spec.quiet = true;
    return spec;
  };
  // Two sources (multisource takes both): Lite0 trained briefly from two seeds.
  std::vector<std::string> sources;
  for (const std::string name : {"source0", "source1"}) {
    auto spec = job("pretrain", name);
    spec.model.model = "efficientnet_lite0";
    spec.train.seed = static_cast<int64_t>(sources.size());
    ASSERT_NO_THROW(aft::run::run_job(spec)) << "pretraining " << name;
    sources.push_back(spec.out);
  }
  int ran = 0;
  for (const auto& info : aft::methods::registry()) {
    auto spec = job("finetune", "run_" + info.name);
    spec.method = info.name;
    spec.method_options = info.make_options();
    if (info.demo_budget) info.demo_budget(*spec.method_options);
    if (info.set_sources) {
      info.set_sources(*spec.method_options, sources);
    } else {
      spec.model.weights = sources.front();
    }
    try {
      const auto summary = aft::run::run_job(spec);
      const double accuracy = summary.at("test_accuracy").get<double>();
      EXPECT_TRUE(accuracy >= 0.0 && accuracy <= 1.0) << info.name << ": test_accuracy " << accuracy;
      const auto trainable = summary.at("trainable_params").get<int64_t>();
      const auto total = summary.at("total_params").get<int64_t>();
      if (info.name == "linear" || info.name == "partial" || info.name == "lora" || info.name == "oft") {
        EXPECT_LT(trainable, total) << info.name;
      }
      if (info.name == "spottune") {
        EXPECT_EQ(summary.at("method_report").at("num_blocks").get<int64_t>(), 16);
      }
      ++ran;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "--method " << info.name << " on efficientnet_lite0: " << e.what();
    }
  }
  EXPECT_EQ(ran, static_cast<int>(aft::methods::registry().size()));
}

}  // namespace
