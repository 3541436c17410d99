#include "aft/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/methods/registry.h"
#include "aft/models/weights.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::testing::tiny_options;
using aft::testing::tiny_resnet;
using aft::testing::tiny_task;

aft::methods::MethodPtr make(const std::string& name, aft::models::ModelPtr model) {
  const auto& info = aft::methods::find_method(name);
  auto method = info.create(*info.make_options());
  method->attach(std::move(model));
  return method;
}

TEST(Trainer, LearnsSeparableTask) {
  auto task = tiny_task();
  auto method = make("full", tiny_resnet());
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer trainer(*method, tiny_options(4), task, hooks);
  const auto r = trainer.fit();
  EXPECT_EQ(r.epochs_run, 4);
  EXPECT_GE(r.test_accuracy, 0.9) << "a small ResNet must learn colour classes";
  EXPECT_GE(r.best_val_accuracy, 0.9);
}

TEST(Trainer, ResumeGivesIdenticalWeights) {
  auto task = tiny_task();
  const std::string dir = ::testing::TempDir() + "/aft_resume_test";
  aft::fs::remove_all(dir);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto straight = make("full", tiny_resnet());
  aft::train::Trainer(*straight, tiny_options(2), task, hooks).fit();

  auto interrupted = make("full", tiny_resnet());
  hooks.checkpoint_dir = dir;
  hooks.after_epoch = [](int64_t, double) { return false; };  // "crash" after epoch 1 of 2
  aft::train::Trainer(*interrupted, tiny_options(2), task, hooks).fit();
  hooks.after_epoch = nullptr;
  auto resumed = make("full", tiny_resnet(3, /*seed=*/99));  // different init: the checkpoint must win
  hooks.resume = true;
  aft::train::Trainer(*resumed, tiny_options(2), task, hooks).fit();

  const auto a = aft::models::state_dict(*straight->module());
  const auto b = aft::models::state_dict(*resumed->module());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
}

TEST(Trainer, LinearProbeLeavesBackboneBitIdentical) {
  auto task = tiny_task();
  auto model = tiny_resnet();
  std::map<std::string, torch::Tensor> before;
  for (auto& [name, t] : aft::models::state_dict(*model)) before[name] = t.clone();
  auto method = make("linear", model);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(*method, tiny_options(2), task, hooks).fit();
  int changed_head = 0;
  for (auto& [name, t] : aft::models::state_dict(*model)) {
    if (aft::models::is_head_param(*model, name)) {
      changed_head += !torch::equal(t, before.at(name));
    } else {
      EXPECT_TRUE(torch::equal(t, before.at(name))) << name << " changed under the linear probe";
    }
  }
  EXPECT_GT(changed_head, 0) << "the head must train";
}

TEST(Trainer, NanLossStopsWithEpochAndStep) {
  auto task = tiny_task();
  auto method = make("full", tiny_resnet());
  auto options = tiny_options(1);
  options.lr = 1e12;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  try {
    aft::train::Trainer(*method, options, task, hooks).fit();
    FAIL() << "an exploding loss must stop training";
  } catch (const aft::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("epoch 1 step"), std::string::npos) << msg;
  }
}

TEST(Trainer, FrozenParametersGetNoGradient) {
  auto task = tiny_task();
  auto model = tiny_resnet();
  auto method = make("linear", model);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer trainer(*method, tiny_options(1), task, hooks);
  trainer.probe_gradients();
  for (auto& p : model->named_parameters()) {
    if (!aft::models::is_head_param(*model, p.key())) EXPECT_FALSE(p.value().grad().defined()) << p.key();
  }
}

}  // namespace

namespace {

// A learner with one parameter that every step moves, and constant predictions: its validation
// accuracy never improves after the first epoch, which is what early stopping must notice.
class Constant : public aft::train::Learner {
 public:
  Constant() : module_(std::make_shared<torch::nn::Module>()) { w_ = module_->register_parameter("w", torch::zeros({1})); }
  std::string name() const override { return "constant"; }
  std::shared_ptr<torch::nn::Module> module() override { return module_; }
  std::vector<aft::train::ParamGroup> param_groups() override { return {{"w", {w_}}}; }
  torch::Tensor predict(const torch::Tensor& images) override { return torch::zeros({images.size(0), 3}); }
  aft::train::StepOutput train_step(const torch::Tensor& images, const torch::Tensor&,
                                    const aft::train::LossFn&) override {
    return {(w_ - 100.0).pow(2).sum(), torch::zeros({images.size(0), 3})};
  }
  double w() const { return w_.item<double>(); }
  void after_step() override { steps.push_back(w()); }
  std::vector<double> steps;  // w after every optimizer step

 private:
  std::shared_ptr<torch::nn::Module> module_;
  torch::Tensor w_;
};

TEST(Trainer, EarlyStoppingEndsOnPatienceAndTestsTheBestEpoch) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(10);
  options.patience = 2;
  Constant learner;
  std::vector<double> w_after;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.after_epoch = [&](int64_t, double) {
    w_after.push_back(learner.w());
    return true;
  };
  const auto r = aft::train::Trainer(learner, options, task, hooks).fit();
  // Epoch 1 is the best (later epochs only tie); epochs 2 and 3 bring nothing: stop after 3.
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.epochs_run, 3);
  EXPECT_EQ(r.best_epoch, 1);
  ASSERT_EQ(w_after.size(), 2u);  // the hook does not run after the stopping epoch
  EXPECT_NE(w_after[0], w_after[1]);
  EXPECT_EQ(learner.w(), w_after[0]) << "the test must see epoch 1's weights";

  // --min-epochs holds the stop back.
  options.min_epochs = 6;
  Constant later;
  hooks.after_epoch = nullptr;
  EXPECT_EQ(aft::train::Trainer(later, options, task, hooks).fit().epochs_run, 6);
}

TEST(Trainer, AnEarlyStoppedRunResumesWithoutTrainingOn) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(10);
  options.patience = 1;
  const std::string dir = ::testing::TempDir() + "/aft_early_stop_resume";
  aft::fs::remove_all(dir);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.checkpoint_dir = dir;
  Constant first;
  const auto a = aft::train::Trainer(first, options, task, hooks).fit();
  EXPECT_EQ(a.epochs_run, 2);
  hooks.resume = true;
  Constant again;
  const auto b = aft::train::Trainer(again, options, task, hooks).fit();
  EXPECT_TRUE(b.stopped_early);
  EXPECT_EQ(b.epochs_run, 2);
  EXPECT_EQ(again.w(), first.w());
}

}  // namespace

namespace {

// A linear classifier on raw pixels: no batch norm, so a batch's gradient does not depend on
// how the batch is split.
class LinearProbe : public aft::train::Learner {
 public:
  LinearProbe() : module_(std::make_shared<torch::nn::Module>()) {
    torch::manual_seed(3);
    fc_ = module_->register_module("fc", torch::nn::Linear(3 * 16 * 16, 3));
  }
  std::string name() const override { return "linear-probe"; }
  std::shared_ptr<torch::nn::Module> module() override { return module_; }
  std::vector<aft::train::ParamGroup> param_groups() override { return {{"fc", fc_->parameters()}}; }
  torch::Tensor predict(const torch::Tensor& images) override { return fc_->forward(images.flatten(1)); }
  aft::train::StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels,
                                    const aft::train::LossFn& loss) override {
    auto logits = predict(images);
    return {loss(logits, labels), logits};
  }
  torch::nn::Linear fc_{nullptr};

 private:
  std::shared_ptr<torch::nn::Module> module_;
};

TEST(Trainer, AccumulatingTwoBatchesEqualsOneTwiceAsLarge) {
  auto task = aft::testing::tiny_task();
  task.train_transform = task.eval_transform;  // no augmentation: both runs see the same pixels
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto options = tiny_options(2);
  options.schedule = "constant";
  options.batch_size = 16;
  LinearProbe large;
  aft::train::Trainer(large, options, task, hooks).fit();
  options.batch_size = 8;
  options.accumulate = 2;
  LinearProbe accumulated;
  aft::train::Trainer(accumulated, options, task, hooks).fit();
  EXPECT_TRUE(torch::allclose(large.fc_->weight, accumulated.fc_->weight, 1e-5, 1e-6))
      << (large.fc_->weight - accumulated.fc_->weight).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(large.fc_->bias, accumulated.fc_->bias, 1e-5, 1e-6));
  // Without accumulation the small batches take twice the steps and end elsewhere.
  options.accumulate = 1;
  LinearProbe small;
  aft::train::Trainer(small, options, task, hooks).fit();
  EXPECT_FALSE(torch::allclose(large.fc_->weight, small.fc_->weight, 1e-5, 1e-6));
}

TEST(Trainer, EmaIsTheMovingAverageOfEveryStepsWeights) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(2);
  options.ema = 0.9;
  Constant learner;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(learner, options, task, hooks).fit();
  ASSERT_GE(learner.steps.size(), 4u);
  double average = 0;  // the start's weight
  for (double w : learner.steps) average = 0.9 * average + 0.1 * w;
  EXPECT_NEAR(learner.w(), average, 1e-4) << "the test and the saved model use the average";
  EXPECT_GT(std::abs(learner.steps.back() - average), 1e-3) << "the average must differ from the last step";
}

TEST(Trainer, EmaSurvivesAResume) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(2);
  options.ema = 0.9;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  Constant straight;
  aft::train::Trainer(straight, options, task, hooks).fit();
  const std::string dir = ::testing::TempDir() + "/aft_ema_resume";
  aft::fs::remove_all(dir);
  hooks.checkpoint_dir = dir;
  hooks.after_epoch = [](int64_t, double) { return false; };  // "crash" after epoch 1
  Constant first;
  aft::train::Trainer(first, options, task, hooks).fit();
  hooks.after_epoch = nullptr;
  hooks.resume = true;
  Constant resumed;
  aft::train::Trainer(resumed, options, task, hooks).fit();
  EXPECT_NEAR(resumed.w(), straight.w(), 1e-9);
}

}  // namespace

namespace {

TEST(Trainer, MixupStepLossIsTheMixOfBothLabelsLosses) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(1);
  options.mixup = 0.4;
  LinearProbe learner;
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer trainer(learner, options, task, hooks);
  torch::manual_seed(8);
  const auto images = torch::rand({8, 3, 16, 16});
  const auto labels = torch::randint(0, 3, {8}, torch::kInt64);
  aft::train::MixOptions mix;
  mix.mixup_alpha = 0.4;
  const auto mixed = aft::train::mix_batch(images, mix, static_cast<uint64_t>(options.seed), 0, 3);
  double expected = 0;
  {
    torch::NoGradGuard no_grad;
    const auto logits = learner.predict(mixed.images);
    expected = mixed.lam * torch::nn::functional::cross_entropy(logits, labels).item<double>() +
               (1 - mixed.lam) * torch::nn::functional::cross_entropy(logits, labels.index_select(0, mixed.partner)).item<double>();
  }
  const auto stats = trainer.step(images, labels, 0, 3);
  EXPECT_NEAR(stats.loss, expected, 1e-5);
}

TEST(Trainer, BalancedLossWeighsClassesByInverseFrequency) {
  auto task = aft::testing::tiny_task();
  // Keep only a third of class 0's training images.
  std::vector<size_t> kept;
  int64_t zeros = 0;
  for (size_t i : task.splits.train_indices) {
    if (task.splits.train->label(i) == 0 && zeros++ % 3 != 0) continue;
    kept.push_back(i);
  }
  task.splits.train_indices = kept;
  std::vector<double> counts(3, 0);
  for (size_t i : kept) counts[task.splits.train->label(i)] += 1;
  auto options = tiny_options(1);
  options.balance = "loss";
  LinearProbe learner;
  aft::train::Trainer trainer(learner, options, task, {});
  torch::manual_seed(9);
  const auto logits = torch::randn({10, 3});
  const auto labels = torch::tensor({0, 0, 1, 2, 2, 1, 0, 2, 1, 1}, torch::kInt64);
  // Direct: weights n / (C n_c); PyTorch's weighted mean divides by the summed weights of the targets.
  const auto log_p = torch::log_softmax(logits, 1);
  double num = 0, den = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const int64_t y = labels[i].item<int64_t>();
    const double w = kept.size() / (3.0 * counts[y]);
    num += -w * log_p[i][y].item<double>();
    den += w;
  }
  EXPECT_NEAR(trainer.task_loss()(logits, labels).item<double>(), num / den, 1e-5);
  EXPECT_GT(kept.size() / (3.0 * counts[0]), 1.5) << "the rare class weighs more";
}

}  // namespace

namespace {

// The rate the optimizer holds for a tensor.
double rate_of(aft::train::Trainer& trainer, const torch::Tensor& p) {
  for (auto& g : trainer.optimizer().param_groups()) {
    for (auto& q : g.params()) {
      if (q.unsafeGetTensorImpl() == p.unsafeGetTensorImpl()) {
        return dynamic_cast<const torch::optim::SGDOptions&>(g.options()).lr();
      }
    }
  }
  return -1;
}

TEST(Trainer, LayerDecayCountsOnlyTrainableLayers) {
  auto task = aft::testing::tiny_task();
  auto options = tiny_options(1);
  options.layer_decay = 0.5;
  options.schedule = "constant";
  // Full fine-tuning of a ResNet-18: stem, 8 blocks, head; the head trains at the rate.
  auto full = make("full", tiny_resnet());
  aft::train::Trainer all(*full, options, task, {});
  auto params = full->model()->named_parameters();
  EXPECT_NEAR(rate_of(all, params["fc.weight"]), 0.05, 1e-12);
  EXPECT_NEAR(rate_of(all, params["layer4.1.conv2.weight"]), 0.05 * 0.5, 1e-12);
  EXPECT_NEAR(rate_of(all, params["layer1.0.conv1.weight"]), 0.05 * std::pow(0.5, 8), 1e-12);
  EXPECT_NEAR(rate_of(all, params["conv1.weight"]), 0.05 * std::pow(0.5, 9), 1e-12);
  // Partial last-half: the frozen first half does not count, so layer3.0 is 4 layers below the head.
  const auto& info = aft::methods::find_method("partial");
  auto partial = info.create(*info.make_options());
  partial->attach(tiny_resnet());
  aft::train::Trainer half(*partial, options, task, {});
  auto pp = partial->model()->named_parameters();
  EXPECT_NEAR(rate_of(half, pp["layer3.0.conv1.weight"]), 0.05 * std::pow(0.5, 4), 1e-12);
  EXPECT_LT(rate_of(half, pp["conv1.weight"]), 0) << "frozen: in no optimizer group";
  // The schedule still applies on top (the rate at epoch 0, step 0 of a constant schedule).
  half.fit();
  EXPECT_NEAR(rate_of(half, pp["layer3.0.conv1.weight"]), 0.05 * std::pow(0.5, 4), 1e-12);
}

}  // namespace
