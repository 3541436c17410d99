// --sync-bn: two ranks (threads of this process on a loopback Gloo group) that each hold half
// of a batch get what one batch norm computes on the whole batch (outputs, input and weight
// gradients, running statistics), and two ranks training a ResNet whose batch norms train
// reach the one-process weights with --sync-bn and do not without it.
#include "aft/train/sync_batch_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>

#include "aft/core/error.h"
#include "aft/methods/method.h"
#include "aft/models/weights.h"
#include "aft/train/trainer.h"
#include "tests/dist/dist_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

TEST(SyncBatchNorm, HalvesOnTwoRanksEqualOneBatchNormOnTheWholeBatch) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({6, 4, 3, 5}) * 2 + 1.5;  // ranks get 2 and 4 samples: uneven
  const torch::Tensor g = torch::randn({6, 4, 3, 5});             // the loss is sum(y * g)
  const torch::Tensor w0 = torch::rand({4}) + 0.5, b0 = torch::randn({4});
  auto make_bn = [&] {
    aft::models::BatchNorm2d bn(4);
    torch::NoGradGuard no_grad;
    bn->weight.copy_(w0);
    bn->bias.copy_(b0);
    return bn;
  };
  // Reference: torch's own batch norm on the whole batch, two steps (running stats twice).
  auto whole = make_bn();
  torch::Tensor xr = x.clone().requires_grad_(true);
  torch::Tensor y_ref;
  for (int step = 0; step < 2; ++step) y_ref = whole->forward(xr);
  (y_ref * g).sum().backward();

  const std::vector<std::pair<int64_t, int64_t>> parts = {{0, 2}, {2, 6}};
  std::vector<torch::Tensor> ys(2), gx(2), gw(2), gb(2), rmean(2), rvar(2);
  aft::testing::run_ranks(2, 30, [&](aft::dist::Group& group) {
    const int r = group.rank();
    auto bn = make_bn();
    aft::train::SyncBatchNormScope scope(*bn, std::shared_ptr<aft::dist::Group>(&group, [](aft::dist::Group*) {}));
    EXPECT_EQ(scope.size(), 1u);
    const auto [begin, end] = parts[r];
    torch::Tensor xs = x.slice(0, begin, end).clone().requires_grad_(true);
    torch::Tensor y;
    for (int step = 0; step < 2; ++step) y = bn->forward(xs);
    (y * g.slice(0, begin, end)).sum().backward();
    ys[r] = y.detach();
    gx[r] = xs.grad();
    gw[r] = bn->weight.grad();
    gb[r] = bn->bias.grad();
    rmean[r] = bn->running_mean.clone();
    rvar[r] = bn->running_var.clone();
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 2);
  });
  EXPECT_LT(max_diff(torch::cat(ys), y_ref), 1e-5);
  EXPECT_LT(max_diff(torch::cat(gx), xr.grad()), 1e-5) << "the gradient flows through the shared statistics";
  EXPECT_LT(max_diff(gw[0] + gw[1], whole->weight.grad()), 1e-4);
  EXPECT_LT(max_diff(gb[0] + gb[1], whole->bias.grad()), 1e-4);
  for (int r = 0; r < 2; ++r) {
    EXPECT_LT(max_diff(rmean[r], whole->running_mean), 1e-6);
    EXPECT_LT(max_diff(rvar[r], whole->running_var), 1e-5) << "unbiased running variance over both ranks";
  }
}

// Every parameter trains and the batch norms normalise with batch statistics (train mode).
class FullWithNorm : public aft::methods::Method {
 public:
  std::string name() const override { return "full-with-norm"; }
  std::vector<aft::methods::ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, -1.0}}; }
};

std::shared_ptr<FullWithNorm> make_method() {
  auto m = std::make_shared<FullWithNorm>();
  m->attach(aft::testing::tiny_resnet(3, /*seed=*/5));
  return m;
}

aft::train::TrainOptions options(bool sync_bn) {
  auto o = aft::testing::tiny_options(2);
  // Global 18: 9 per rank, three full batches of the 54 training images per epoch. With 16, 8
  // or 6 this task amplifies rounding (WhereTwoRanksDriftOneProcessDriftsFromItselfAlike).
  o.batch_size = 18;
  o.sync_bn = sync_bn;
  return o;
}

// Largest difference over parameters and buffers (running statistics included).
double state_diff(torch::nn::Module& a, torch::nn::Module& b) {
  const auto x = aft::models::state_dict(a);
  const auto y = aft::models::state_dict(b);
  double worst = 0;
  for (const auto& [name, t] : x) worst = std::max(worst, max_diff(t, y.at(name)));
  return worst;
}

// Two ranks against one process at a global batch of `batch`.
double two_ranks_vs_one(bool sync_bn, int64_t batch = 18) {
  auto task = aft::testing::tiny_task();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto o = options(sync_bn);
  o.batch_size = batch;
  auto single = make_method();
  aft::train::Trainer(*single, o, task, hooks).fit();  // --sync-bn: a no-op here
  std::vector<std::shared_ptr<FullWithNorm>> ranks{make_method(), make_method()};
  aft::testing::run_ranks(2, 60, [&](aft::dist::Group& g) {
    auto h = hooks;
    h.dist = std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {});
    aft::train::Trainer(*ranks[g.rank()], o, task, h).fit();
  });
  EXPECT_LT(state_diff(*ranks[0]->module(), *ranks[1]->module()), 1e-6) << "ranks agree";
  return state_diff(*single->module(), *ranks[0]->module());
}

TEST(SyncBatchNorm, TwoRanksReachTheOneProcessWeightsOnlyWithSyncBn) {
  const double with_sync = two_ranks_vs_one(true);
  const double without = two_ranks_vs_one(false);
  EXPECT_LT(with_sync, 1e-5) << "--sync-bn: largest weight/statistic difference to one process";
  EXPECT_GT(without, 1e-2) << "without --sync-bn each rank normalises with its own half batch";
  std::cout << "[ sync-bn ] largest difference to one process: with " << with_sync << ", without " << without
            << "\n";
}

// One process against itself with every initial weight moved by eps x (its tensor's largest
// magnitude) x N(0, 1): how far float rounding alone can carry this task at this batch size.
double one_vs_perturbed_at(int64_t batch, double eps, uint64_t seed) {
  auto task = aft::testing::tiny_task();
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  auto o = options(false);
  o.batch_size = batch;
  auto a = make_method();
  aft::train::Trainer(*a, o, task, hooks).fit();
  auto b = make_method();
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(seed);
    for (auto& p : b->module()->parameters()) p.add_(torch::randn_like(p) * eps * p.abs().max());
  }
  aft::train::Trainer(*b, o, task, hooks).fit();
  return state_diff(*a->module(), *b->module());
}

// The gap once left open: with global batches of 16, 8 or 6 the two-rank run ends 5e-2 to 0.2
// from one process. So does one process from itself when its initial weights move by 1e-7 (a
// float's rounding): at these batch sizes this tiny task amplifies any rounding difference (the
// ranks sum in another order), so the two-rank run is as close as floats allow, not wrong.
TEST(SyncBatchNorm, WhereTwoRanksDriftOneProcessDriftsFromItselfAlike) {
  for (int64_t batch : {6, 8, 16}) {
    const double ranks = two_ranks_vs_one(true, batch);
    const double self = std::max(one_vs_perturbed_at(batch, 1e-7, 1), one_vs_perturbed_at(batch, 1e-7, 2));
    std::cout << "[ sync-bn ] global batch " << batch << ": two ranks vs one " << ranks
              << ", one vs itself with weights moved by 1e-7 " << self << "\n";
    EXPECT_GT(self, 1e-3) << "batch " << batch << ": this batch size is not sensitive to rounding after all";
    EXPECT_LT(ranks, 10 * self) << "batch " << batch << ": two ranks drift further than rounding explains";
  }
}

TEST(SyncBatchNorm, RefusesATorchBatchNormItCannotTakeOver) {
  torch::nn::Sequential net(torch::nn::Conv2d(3, 4, 3), torch::nn::BatchNorm2d(4));
  aft::testing::run_ranks(2, 30, [&](aft::dist::Group& g) {
    EXPECT_THROW(aft::train::SyncBatchNormScope(*net, std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {})),
                 aft::Error);
  });
}

}  // namespace
