// Data-parallel training through the one Trainer: two ranks (threads of this process, each
// with its own model copy and loader shard) reach the weights of one process with the same
// global batch and seed, and a checkpoint written by two ranks resumes in one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/methods/method.h"
#include "aft/models/weights.h"
#include "aft/train/trainer.h"
#include "tests/dist/dist_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::testing::tiny_options;
using aft::testing::tiny_resnet;
using aft::testing::tiny_task;

// Every parameter trains; batch norms stay in eval mode. Under data parallelism each rank
// normalises with its own shard's batch statistics, which one process cannot reproduce, so
// the exact comparison needs normalisation that does not depend on the batch.
class FullFrozenNorm : public aft::methods::Method {
 public:
  std::string name() const override { return "full-frozen-norm"; }
  std::vector<aft::methods::ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, -1.0}}; }
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override { return {model_}; }
};

std::shared_ptr<FullFrozenNorm> make_method() {
  auto m = std::make_shared<FullFrozenNorm>();
  m->attach(tiny_resnet(3, /*seed=*/5));
  return m;
}

aft::train::TrainOptions options() {
  auto o = tiny_options(2);
  o.batch_size = 16;  // global: 8 per rank with two
  return o;
}

void expect_close(torch::nn::Module& a, torch::nn::Module& b) {
  const auto x = aft::models::state_dict(a);
  const auto y = aft::models::state_dict(b);
  ASSERT_EQ(x.size(), y.size());
  double worst = 0;
  for (const auto& [name, t] : x) {
    worst = std::max(worst, (t.to(torch::kFloat64) - y.at(name).to(torch::kFloat64)).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-4) << "largest weight difference";
}

// Trains `methods[r]` on rank r of a loopback group of methods.size() ranks.
std::vector<aft::train::TrainResult> fit_on_ranks(std::vector<std::shared_ptr<FullFrozenNorm>>& methods,
                                                  const aft::train::TrainData& task, aft::train::TrainerHooks hooks) {
  std::vector<aft::train::TrainResult> results(methods.size());
  aft::testing::run_ranks(static_cast<int>(methods.size()), 60, [&](aft::dist::Group& g) {
    auto h = hooks;
    h.dist = std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {});
    results[g.rank()] = aft::train::Trainer(*methods[g.rank()], options(), task, h).fit();
  });
  return results;
}

TEST(DataParallel, TwoRanksMatchOneProcessWithTheSameGlobalBatch) {
  auto task = tiny_task();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto single = make_method();
  const auto reference = aft::train::Trainer(*single, options(), task, hooks).fit();

  std::vector<std::shared_ptr<FullFrozenNorm>> ranks{make_method(), make_method()};
  {
    // Rank 1 starts from other weights: the initial broadcast must replace them with rank 0's.
    torch::NoGradGuard no_grad;
    for (auto& p : ranks[1]->module()->parameters()) p.add_(0.5);
  }
  const auto results = fit_on_ranks(ranks, task, hooks);
  expect_close(*single->module(), *ranks[0]->module());
  expect_close(*single->module(), *ranks[1]->module());
  for (const auto& r : results) {
    ASSERT_EQ(r.history.size(), reference.history.size());
    for (size_t e = 0; e < r.history.size(); ++e) {
      EXPECT_NEAR(r.history[e].at("train_loss").get<double>(), reference.history[e].at("train_loss").get<double>(), 1e-4);
      EXPECT_EQ(r.history[e].at("train_accuracy"), reference.history[e].at("train_accuracy"));
      EXPECT_EQ(r.history[e].at("val_accuracy"), reference.history[e].at("val_accuracy"));
    }
    EXPECT_EQ(r.test_accuracy, reference.test_accuracy);
  }
}

TEST(DataParallel, EvaluationShardsCountEverySampleOnce) {
  auto task = tiny_task();  // 18 validation images: 6 per rank with 3, uneven with 4
  for (int world : {3, 4}) {
    std::multiset<size_t> seen;
    for (int rank = 0; rank < world; ++rank) {
      aft::data::LoaderOptions o;
      o.batch_size = 4;
      o.rank = rank;
      o.world = world;
      o.pad = false;
      aft::data::Loader loader(task.splits.train, task.splits.val_indices, task.eval_transform, o);
      aft::data::Batch batch;
      while (loader.next(batch)) seen.insert(batch.indices.begin(), batch.indices.end());
    }
    EXPECT_EQ(seen, std::multiset<size_t>(task.splits.val_indices.begin(), task.splits.val_indices.end())) << world;
  }
}

TEST(DataParallel, GlobalBatchMustSplitEvenly) {
  auto task = tiny_task();
  std::vector<std::shared_ptr<FullFrozenNorm>> ranks{make_method(), make_method()};
  std::vector<std::string> errors(2);
  aft::testing::run_ranks(2, 30, [&](aft::dist::Group& g) {
    aft::train::TrainerHooks h;
    h.quiet = true;
    h.dist = std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {});
    auto o = options();
    o.batch_size = 15;
    try {
      aft::train::Trainer(*ranks[g.rank()], o, task, h);
    } catch (const aft::Error& e) {
      errors[g.rank()] = e.what();
    }
  });
  for (const auto& e : errors) EXPECT_NE(e.find("--batch-size 15 is the global batch"), std::string::npos) << e;
}

TEST(DataParallel, CheckpointOfTwoRanksResumesInOneProcess) {
  auto task = tiny_task();
  const std::string dir = ::testing::TempDir() + "/aft_dist_resume_test";
  aft::fs::remove_all(dir);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto straight = make_method();
  aft::train::Trainer(*straight, options(), task, hooks).fit();

  std::vector<std::shared_ptr<FullFrozenNorm>> ranks{make_method(), make_method()};
  hooks.checkpoint_dir = dir;
  hooks.after_epoch = [](int64_t, double) { return false; };  // "crash" after epoch 1 of 2
  fit_on_ranks(ranks, task, hooks);
  hooks.after_epoch = nullptr;
  hooks.resume = true;
  auto resumed = make_method();
  aft::train::Trainer(*resumed, options(), task, hooks).fit();
  expect_close(*straight->module(), *resumed->module());
}

}  // namespace
