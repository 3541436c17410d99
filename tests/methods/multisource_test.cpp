// AMCF (multisource): the collaborative loss against a direct computation, the frozen prefix
// per source, bit-identical frozen layers after training, lambda = 0 equal to training each
// source alone, and a reproducible search.
#include <gtest/gtest.h>
#include <unistd.h>
#include <torch/torch.h>

#include <cmath>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/methods/baselines.h"
#include "aft/methods/multisource.h"
#include "aft/models/weights.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::MultiSourceMethod;
using aft::methods::MultiSourceOptions;

aft::methods::LossFn plain_ce() {
  return [](const torch::Tensor& z, const torch::Tensor& y) { return torch::nn::functional::cross_entropy(z, y); };
}

// A direct, loop-by-loop computation of multisource.md's loss.
double direct_loss(const std::vector<torch::Tensor>& z, const torch::Tensor& y, double lambda) {
  const int64_t n = static_cast<int64_t>(z.size()), batch = y.size(0), classes = z[0].size(1);
  double ce = 0, spread = 0;
  for (int64_t j = 0; j < n; ++j) {
    double sum = 0;
    for (int64_t b = 0; b < batch; ++b) {
      double denom = 0;
      for (int64_t c = 0; c < classes; ++c) denom += std::exp(z[j][b][c].item<double>());
      sum += -(z[j][b][y[b].item<int64_t>()].item<double>() - std::log(denom));
    }
    ce += sum / batch;
  }
  for (int64_t b = 0; b < batch; ++b) {
    double per_sample = 0;
    for (int64_t j = 0; j < n; ++j) {
      double sq = 0;
      for (int64_t c = 0; c < classes; ++c) {
        double mean = 0;
        for (int64_t i = 0; i < n; ++i) mean += z[i][b][c].item<double>() / n;
        const double d = z[j][b][c].item<double>() - mean;
        sq += d * d;
      }
      per_sample += std::sqrt(sq) / n;
    }
    spread += per_sample / batch;
  }
  return ce + lambda * spread;
}

TEST(CollaborativeLoss, MatchesADirectComputationForTwoAndThreeSources) {
  torch::manual_seed(3);
  const auto y = torch::tensor({0, 2, 1, 4, 3}, torch::kLong);
  for (int n : {2, 3}) {
    std::vector<torch::Tensor> z;
    for (int j = 0; j < n; ++j) z.push_back(torch::randn({5, 6}, torch::kFloat64) * 2);
    const double got = aft::methods::collaborative_loss(z, y, 0.2, plain_ce()).item<double>();
    EXPECT_NEAR(got, direct_loss(z, y, 0.2), 1e-10) << n << " sources";
    EXPECT_NEAR(aft::methods::collaborative_loss(z, y, 0.0, plain_ce()).item<double>(), direct_loss(z, y, 0.0), 1e-10);
  }
}

TEST(CollaborativeLoss, TwoSourcesEqualTheReferenceForm) {
  // The reference: CE1 + CE2 + 0.2 * mean(||z1 - m||/2 + ||z2 - m||/2), m the mean of the two.
  torch::manual_seed(4);
  const auto z1 = torch::randn({7, 4}, torch::kFloat64), z2 = torch::randn({7, 4}, torch::kFloat64);
  const auto y = torch::randint(0, 4, {7}, torch::kLong);
  const auto m = torch::stack({z1, z2}).mean(0);
  const auto reference = torch::nn::functional::cross_entropy(z1, y) + torch::nn::functional::cross_entropy(z2, y) +
                         0.2 * ((z1 - m).norm(2, {1}) / 2 + (z2 - m).norm(2, {1}) / 2).mean();
  EXPECT_NEAR(aft::methods::collaborative_loss({z1, z2}, y, 0.2, plain_ce()).item<double>(), reference.item<double>(),
              1e-12);
}

class MultiSource : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "/aft_multisource_test_" + std::to_string(::getpid());
    aft::fs::remove_all(dir_);
    aft::fs::create_directories(dir_);
    // Two different "pretrained" sources: same architecture, different weights.
    for (int s = 0; s < 2; ++s) {
      auto m = aft::testing::tiny_resnet(5, 10 + s);
      aft::models::save_weights(*m, dir_ + "/src" + std::to_string(s) + ".safetensors", aft::models::model_metadata(*m));
    }
  }
  static MultiSourceOptions options(const std::string& frozen, double lambda = 0.2) {
    MultiSourceOptions o;
    o.sources = {"resnet18=" + dir_ + "/src0.safetensors", dir_ + "/src1.safetensors"};
    o.frozen = frozen;
    o.collab_weight = lambda;
    return o;
  }
  static std::shared_ptr<MultiSourceMethod> built(const MultiSourceOptions& o, uint64_t seed = 0) {
    auto m = std::make_shared<MultiSourceMethod>(o);
    m->build_own_model({3, 16, true, seed});
    return m;
  }
  // What run_job hands prepare(): the task, the recipe, and the tiny models' shape.
  static aft::methods::PrepareContext context(const aft::train::TrainData& data, const aft::train::TrainOptions& opts) {
    aft::methods::PrepareContext ctx;
    ctx.data = &data;
    ctx.train_options = &opts;
    ctx.quiet = true;
    ctx.num_classes = 3;
    ctx.image_size = 16;
    return ctx;
  }
  static std::map<std::string, torch::Tensor> snapshot(torch::nn::Module& module) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value().detach().clone();
    for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value().detach().clone();
    return out;
  }
  static std::string dir_;
};
std::string MultiSource::dir_;

TEST_F(MultiSource, GivenKFreezesExactlyTheFirstKUnitsOfEachSource) {
  auto method = built(options("3,7"));
  ASSERT_EQ(method->ensemble()->members().size(), 2u);
  const std::vector<int64_t> k = {3, 7};
  for (size_t j = 0; j < 2; ++j) {
    const auto& member = method->ensemble()->members()[j];
    const auto units = member->units(aft::models::UnitLevel::layer);
    std::set<std::string> frozen;
    for (int64_t u = 0; u < k[j]; ++u) frozen.insert(units[u].params.begin(), units[u].params.end());
    for (const auto& p : member->named_parameters(true)) {
      EXPECT_EQ(p.value().requires_grad(), !frozen.count(p.key())) << "source " << j << " " << p.key();
    }
  }
  const auto report = method->report();
  EXPECT_EQ(report.at("sources")[0].at("first_tuned_unit"), method->ensemble()->members()[0]->units(aft::models::UnitLevel::layer)[3].name);
  // The run's module names its parameters per source.
  EXPECT_TRUE(method->module()->named_parameters(true).contains("sources.1.fc.weight"));
}

TEST_F(MultiSource, FrozenLayersAreBitIdenticalAfterTraining) {
  auto o = options("4,9");
  o.freeze_bn_stats = true;
  auto method = built(o);
  const auto before = snapshot(*method->module());
  const auto task = aft::testing::tiny_task();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(*method, aft::testing::tiny_options(2), task, hooks).fit();
  const auto after = snapshot(*method->module());
  int frozen_seen = 0, moved = 0;
  const std::vector<int64_t> k = {4, 9};
  for (size_t j = 0; j < 2; ++j) {
    const auto units = method->ensemble()->members()[j]->units(aft::models::UnitLevel::layer);
    for (int64_t u = 0; u < k[j]; ++u) {
      for (const auto& p : units[u].params) {
        const std::string name = "sources." + std::to_string(j) + "." + p;
        ASSERT_TRUE(after.count(name)) << name;
        EXPECT_TRUE(torch::equal(before.at(name), after.at(name))) << name;
        ++frozen_seen;
        // Its norm's running statistics too (--freeze-bn-stats).
        const auto dot = name.rfind('.');
        const auto mean = name.substr(0, dot) + ".running_mean";
        if (after.count(mean)) EXPECT_TRUE(torch::equal(before.at(mean), after.at(mean))) << mean;
      }
    }
    const auto tuned = "sources." + std::to_string(j) + "." + units[k[j]].params[0];
    moved += !torch::equal(before.at(tuned), after.at(tuned));
  }
  EXPECT_GT(frozen_seen, 10);
  EXPECT_EQ(moved, 2) << "the first tuned unit of each source must train";
}

TEST_F(MultiSource, WithoutCollaborationEachSourceTrainsAsItWouldAlone) {
  const auto task = aft::testing::tiny_task();
  auto opts = aft::testing::tiny_options(2);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.run_test = false;
  auto joint = built(options("0,0", 0.0), 7);
  torch::manual_seed(7);
  aft::train::Trainer(*joint, opts, task, hooks).fit();
  for (int j = 0; j < 2; ++j) {
    // The same source fine-tuned alone: same seed, same new head, same data order.
    torch::manual_seed(7);
    aft::models::ModelConfig c = aft::testing::tiny_resnet(3)->config();
    torch::manual_seed(7);
    auto alone = aft::models::build_model(c);
    aft::models::LoadOptions load;
    load.replace_head = true;
    aft::models::load_weights(*alone, dir_ + "/src" + std::to_string(j) + ".safetensors", load);
    auto full = aft::methods::find_method("full").create(aft::methods::NoOptions());
    full->attach(alone);
    aft::train::Trainer(*full, opts, task, hooks).fit();
    const auto member = joint->ensemble()->members()[j]->named_parameters(true);
    double worst = 0;
    for (const auto& p : alone->named_parameters(true)) {
      worst = std::max(worst, (p.value() - member[p.key()]).abs().max().item<double>());
    }
    EXPECT_LT(worst, 1e-5) << "source " << j;
  }
  // And with collaboration the result differs.
  auto collab = built(options("0,0", 0.5), 7);
  aft::train::Trainer(*collab, opts, task, hooks).fit();
  const auto a = joint->ensemble()->members()[0]->named_parameters(true);
  const auto b = collab->ensemble()->members()[0]->named_parameters(true);
  EXPECT_FALSE(torch::allclose(a["fc.weight"], b["fc.weight"]));
}

TEST_F(MultiSource, SearchIsReproducibleAndReportsItsHistory) {
  const auto task = aft::testing::tiny_task();
  auto run_opts = aft::testing::tiny_options(1);
  auto search = [&]() {
    auto o = options("");
    o.particles = 2;
    o.iterations = 1;
    o.proxy_epochs = 1;
    MultiSourceMethod method(o);
    auto ctx = context(task, run_opts);
    method.prepare(ctx);
    method.build_own_model({3, 16, true, 0});
    return std::make_pair(method.frozen(), method.report());
  };
  const auto [k1, r1] = search();
  const auto [k2, r2] = search();
  EXPECT_EQ(k1, k2);
  ASSERT_TRUE(r1.contains("search"));
  const auto& s1 = r1.at("search");
  EXPECT_EQ(s1.at("evaluations").size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto& e1 = s1.at("evaluations")[i];
    const auto& e2 = r2.at("search").at("evaluations")[i];
    EXPECT_EQ(e1.at("frozen"), e2.at("frozen"));
    EXPECT_EQ(e1.at("fitness"), e2.at("fitness"));
    for (size_t j = 0; j < 2; ++j) {
      EXPECT_GE(e1.at("frozen")[j].get<int64_t>(), 0);
      EXPECT_LE(e1.at("frozen")[j].get<int64_t>(), 16);  // tiny resnet18: 17 layer units, one always tuned
    }
  }
  EXPECT_EQ(s1.at("gbest_frozen").get<std::vector<int64_t>>(), k1);
}

TEST_F(MultiSource, FrozenOutputsAreCachedOnlyWhenTheyCannotChange) {
  auto task = aft::testing::tiny_task();
  task.train_transform = aft::data::make_preset("none", true, 16);  // no augmentation
  task.eval_transform = aft::data::make_preset("none", false, 16);
  // The counts below are the training and validation passes alone; batch-norm re-estimation
  // (which reads the cache too) is off here.
  auto opts = aft::testing::tiny_options(2);
  opts.bn_reestimate = "off";
  auto run = [&](const std::string& mode, bool freeze_bn, const aft::train::TrainData& data) {
    auto o = options("9,5");
    o.freeze_bn_stats = freeze_bn;
    o.cache_frozen = mode;
    auto m = std::make_shared<MultiSourceMethod>(o);
    auto ctx = context(data, opts);
    m->prepare(ctx);
    m->build_own_model({3, 16, true, 0});
    aft::train::TrainerHooks hooks;
    hooks.quiet = true;
    const auto result = aft::train::Trainer(*m, opts, data, hooks).fit();
    return std::make_pair(m, result);
  };
  const auto [cached, r1] = run("auto", true, task);
  const auto [plain, r2] = run("off", true, task);
  // 9 layer units of resnet18 = the stem and layer1.0 .. layer2.1 (5 pieces); 5 = stem, layer1.*.
  EXPECT_EQ(cached->cached_pieces(), (std::vector<int64_t>{5, 3}));
  ASSERT_NE(cached->cache(), nullptr);
  // Per source: the first epoch and its validation pass compute every image, the second
  // epoch and its validation pass read them all, the test pass computes the test images.
  const auto stats = cached->cache()->stats();
  const auto seen = static_cast<int64_t>(task.splits.train_indices.size() + task.splits.val_indices.size());
  EXPECT_EQ(stats.hits, 2 * seen);
  EXPECT_EQ(stats.misses, 2 * (seen + static_cast<int64_t>(task.splits.test_indices.size())));
  EXPECT_EQ(plain->cache(), nullptr);
  EXPECT_EQ(plain->cached_pieces(), (std::vector<int64_t>{0, 0}));
  // The same training, to rounding: the cache changes where the prefix is computed, not what.
  auto a = cached->module()->named_parameters(true);
  double worst = 0;
  for (const auto& p : plain->module()->named_parameters(true)) {
    worst = std::max(worst, (p.value() - a[p.key()]).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-4);
  EXPECT_NEAR(r1.test_accuracy, r2.test_accuracy, 1e-9);
  EXPECT_EQ(cached->report().at("frozen_cache").at("state"), "on");

  // Batch norms that keep updating their statistics (the reference) make every piece change.
  const auto [updating, r3] = run("auto", false, task);
  EXPECT_EQ(updating->cached_pieces(), (std::vector<int64_t>{0, 0}));
  // Augmented inputs never repeat: off, saying why.
  const auto augmented = aft::testing::tiny_task();
  const auto [aug, r4] = run("auto", true, augmented);
  EXPECT_EQ(aug->cache(), nullptr);
  const std::string state = aug->report().at("frozen_cache").at("state");
  EXPECT_NE(state.find("augments"), std::string::npos) << state;
}

TEST_F(MultiSource, BadOptionsNameTheProblem) {
  MultiSourceOptions one;
  one.sources = {dir_ + "/src0.safetensors"};
  EXPECT_THROW(one.validate(), aft::Error);
  auto wrong_count = options("1,2,3");
  EXPECT_THROW(wrong_count.validate(), aft::Error);
  auto not_a_number = options("1,x");
  EXPECT_THROW(not_a_number.validate(), aft::Error);
  try {
    aft::methods::parse_source("resnet18=" + dir_ + "/missing.safetensors");
    FAIL() << "no error for a missing source";
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(built(options("3,99")), aft::Error);  // more frozen units than the source has
}

}  // namespace
