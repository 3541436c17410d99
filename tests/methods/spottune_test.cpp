// SpotTune: the Gumbel straight-through estimator, the mix after the ReLU, single-path
// inference, Global-k, frozen copies after training, and a saved run reopened by load_run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>

#include "aft/run/job.h"
#include "aft/methods/spottune.h"
#include "aft/models/resnet.h"
#include "aft/models/weights.h"
#include "aft/train/evaluate.h"
#include "tests/data/data_test_util.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::methods::SpotTuneMethod;
using aft::methods::SpotTuneOptions;

aft::models::ModelPtr tiny_model(const std::string& arch, uint64_t seed = 0) {
  if (arch == "resnet18") return aft::testing::tiny_resnet(3, seed);
  torch::manual_seed(seed);
  aft::models::ModelConfig c;
  c.arch = arch;
  if (arch.rfind("resnet", 0) == 0) c.width = 0.125;
  c.num_classes = 3;
  c.image_size = 16;
  return aft::models::build_model(c);
}

// A SpotTune method on a tiny model whose tuned copies differ from the frozen ones and whose
// BN statistics are not the identity, in eval mode.
std::shared_ptr<SpotTuneMethod> perturbed(const std::string& arch, SpotTuneOptions options = {}) {
  auto method = std::make_shared<SpotTuneMethod>(options);
  method->attach(tiny_model(arch));
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  for (auto& p : method->net().parameters()) p.add_(torch::randn_like(p) * 0.05);
  for (auto& b : method->net().buffers()) {
    if (b.is_floating_point()) b.add_(torch::rand_like(b) * 0.1);
  }
  method->set_training(false);
  return method;
}

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : aft::models::state_dict(module)) out[name] = t.detach().clone();
  return out;
}

bool same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  for (auto& [name, t] : a) {
    if (!torch::equal(t, b.at(name))) return false;
  }
  return true;
}

// In fp16 the old formula's 1e-20 was 0 and a uniform draw of 0 (1 in 2048 of fp16 draws)
// gave an infinite noise; 200k draws met one almost surely.
TEST(SpotTune, GumbelNoiseFiniteInHalfPrecision) {
  torch::manual_seed(5);
  const auto g = aft::methods::gumbel_noise(torch::zeros({200000}, torch::kHalf));
  EXPECT_EQ(g.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
  // Still Gumbel(0, 1): mean 0.5772 (Euler's constant), variance pi^2/6.
  const auto f = g.to(torch::kFloat);
  EXPECT_NEAR(f.mean().item<double>(), 0.5772, 0.02);
  EXPECT_NEAR(f.var().item<double>(), 1.6449, 0.05);
}

TEST(SpotTune, GumbelNoiseAndStraightThroughGradient) {
  torch::manual_seed(4);
  const auto u = torch::rand({5, 7, 2});
  torch::manual_seed(4);
  const auto g = aft::methods::gumbel_noise(torch::zeros({5, 7, 2}));
  EXPECT_TRUE(torch::allclose(g, -torch::log(-torch::log(u + 1e-20) + 1e-20)));

  const auto logits = torch::randn({5, 7, 2}, torch::requires_grad());
  const auto weights = torch::randn({5, 7, 2});
  const double temperature = 5.0;
  const auto hard = aft::methods::gumbel_softmax_hard(logits, g, temperature);
  // Forward: exactly the one-hot of argmax(logits + g); the temperature does not change it.
  const auto expected = torch::nn::functional::one_hot((logits + g).argmax(-1), 2).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(hard.detach(), expected));
  (hard * weights).sum().backward();
  const auto straight_through = logits.grad().clone();
  // Backward: the gradient of the soft sample softmax((logits + g) / T).
  logits.mutable_grad() = torch::Tensor();
  (torch::softmax((logits + g) / temperature, -1) * weights).sum().backward();
  EXPECT_TRUE(torch::allclose(straight_through, logits.grad(), 1e-6, 1e-7));
  EXPECT_GT(straight_through.abs().sum().item<double>(), 0.0);
}

TEST(SpotTune, MixAfterReluMatchesDirectComputationAndEndpoints) {
  for (const std::string arch : {"resnet26", "resnet18", "efficientnet_lite0"}) {
    auto method = perturbed(arch);
    auto& net = method->net();
    auto& backbone = net.backbone();
    auto& trunk = net.trunk();
    const bool resnet = arch.rfind("resnet", 0) == 0;
    // A block's output written out: ResNet relu(s + F(x)); EfficientNet F(x) (+ x where it has
    // an identity shortcut).
    const auto block_out = [&](aft::models::ResidualBlock& blk, const torch::Tensor& x) {
      const auto s = blk.shortcut(x);
      const auto br = blk.branch(x);
      if (resnet) return torch::relu(s + br);
      return s.defined() ? s + br : br;
    };
    torch::NoGradGuard no_grad;
    torch::manual_seed(2);
    const auto images = torch::randn({6, 3, 16, 16});
    const auto actions = torch::rand({6, net.num_blocks()});  // fractional: tests the formula itself
    auto x = trunk.stem(images);
    for (int64_t b = 0; b < net.num_blocks(); ++b) {
      auto& f = *net.frozen_blocks()[b];
      auto& t = *net.tuned_blocks()[b];
      const auto a = actions.select(1, b).view({-1, 1, 1, 1});
      x = (1 - a) * block_out(f, x) + a * block_out(t, x);
    }
    const auto direct = backbone.head(trunk.pool(x));
    EXPECT_TRUE(torch::allclose(net.forward_two_path(images, actions), direct, 1e-5, 1e-6)) << arch;

    // All decisions 0: exactly the pretrained network (the backbone keeps the frozen copies).
    const auto zeros = torch::zeros({6, net.num_blocks()});
    EXPECT_TRUE(torch::equal(net.forward_two_path(images, zeros), backbone.forward(images))) << arch;
    // All 1: exactly a plain network holding the tuned copies.
    auto plain = aft::models::build_model(backbone.config());
    auto* plain_trunk = dynamic_cast<aft::models::BlockTrunk*>(plain.get());
    ASSERT_NE(plain_trunk, nullptr) << arch;
    aft::models::load_state_dict(*plain, aft::models::state_dict(backbone), {}, "backbone");
    for (int64_t b = 0; b < net.num_blocks(); ++b) {
      auto dst = plain_trunk->blocks()[b]->named_parameters();
      for (auto& p : net.tuned_blocks()[b]->named_parameters()) dst[p.key()].copy_(p.value());
      auto dst_buffers = plain_trunk->blocks()[b]->named_buffers();
      for (auto& p : net.tuned_blocks()[b]->named_buffers()) dst_buffers[p.key()].copy_(p.value());
    }
    plain->eval();
    const auto ones = torch::ones({6, net.num_blocks()});
    EXPECT_TRUE(torch::equal(net.forward_two_path(images, ones), plain->forward(images))) << arch;
  }
}

TEST(SpotTune, SplitInferenceEqualsTwoPath) {
  for (const std::string arch : {"resnet26", "resnet18", "efficientnet_lite0"}) {
    auto method = perturbed(arch);
    auto& net = method->net();
    torch::NoGradGuard no_grad;
    torch::manual_seed(3);
    const auto images = torch::randn({9, 3, 16, 16});
    auto actions = torch::randint(0, 2, {9, net.num_blocks()}).to(torch::kFloat32);
    actions.select(1, 0).fill_(0);  // whole-batch cases take their own branch
    actions.select(1, 1).fill_(1);
    const auto two_path = net.forward_two_path(images, actions);
    EXPECT_TRUE(torch::allclose(net.forward_split(images, actions), two_path, 1e-5, 1e-6)) << arch;
    // predict() = split inference on the argmax decisions.
    const auto routed = method->route(images);
    EXPECT_TRUE(torch::allclose(method->predict(images), net.forward_two_path(images, routed), 1e-5, 1e-6)) << arch;
  }
}

TEST(SpotTune, PerClassRoutingMatchesADirectCount) {
  auto method = perturbed("resnet26");
  torch::manual_seed(5);
  const auto images = torch::randn({12, 3, 16, 16});
  const auto labels = torch::tensor({0, 2, 2, 0, 2, 0, 0, 2, 2, 0, 2, 2}, torch::kInt64);  // class 1 absent
  const auto direct = method->route(images).gt(0.5).to(torch::kFloat64);
  method->on_evaluate_start("val");  // validation passes are not counted
  method->evaluate_batch(images, labels);
  method->on_evaluate_start("test");
  for (int64_t start : {0, 5}) {  // two batches
    const int64_t end = start == 0 ? 5 : 12;
    method->evaluate_batch(images.slice(0, start, end), labels.slice(0, start, end));
  }
  const auto report = method->report();
  const auto& by_class = report.at("by_class");
  ASSERT_EQ(by_class.size(), 2u) << by_class.dump();
  for (size_t i = 0; i < by_class.size(); ++i) {
    const int64_t c = by_class[i].at("class").get<int64_t>();
    EXPECT_EQ(c, i == 0 ? 0 : 2);
    const auto rows = labels.eq(c);
    const auto expected = direct.index({rows}).mean(0);
    EXPECT_EQ(by_class[i].at("images").get<int64_t>(), rows.sum().item<int64_t>());
    const auto fractions = by_class[i].at("tuned_fraction").get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(fractions.size()), method->net().num_blocks());
    for (size_t b = 0; b < fractions.size(); ++b) {
      EXPECT_DOUBLE_EQ(fractions[b], expected[static_cast<int64_t>(b)].item<double>()) << "class " << c << " block " << b;
    }
    EXPECT_NEAR(by_class[i].at("mean_tuned_blocks").get<double>(), expected.sum().item<double>(), 1e-12);
  }
}

TEST(SpotTune, GlobalKLossMatchesDirectComputation) {
  SpotTuneOptions options;
  options.global_k = 3;
  options.global_k_weight = 0.7;
  options.global_k_entropy_weight = 0.2;
  auto method = perturbed("resnet26", options);
  method->set_training(true);
  torch::manual_seed(5);
  const auto actions = method->sample_actions(torch::randn({8, 3, 16, 16}));
  ASSERT_EQ(actions.size(0), 8);
  ASSERT_EQ(actions.size(1), 12);
  EXPECT_TRUE(torch::equal(actions.detach() * (1 - actions.detach()), torch::zeros_like(actions))) << "hard 0/1";
  const auto a = actions.detach().clone().requires_grad_(true);
  const auto loss = method->global_k_loss(a);
  // Direct: v_b = mean_n a_nb; 0.7 (sum_b v_b - 3)^2 + 0.2 sum_b H(v_b), H clamped to [1e-6, 1 - 1e-6].
  const auto acc = a.detach().to(torch::kFloat64).contiguous();
  double sum_v = 0, entropy = 0;
  std::vector<double> v(12);
  for (int64_t b = 0; b < 12; ++b) {
    for (int64_t n = 0; n < 8; ++n) v[b] += acc[n][b].item<double>() / 8;
    sum_v += v[b];
    const double c = std::min(std::max(v[b], 1e-6), 1 - 1e-6);
    entropy += -(c * std::log(c) + (1 - c) * std::log(1 - c));
  }
  EXPECT_NEAR(loss.item<double>(), 0.7 * (sum_v - 3) * (sum_v - 3) + 0.2 * entropy, 1e-4);
  loss.backward();
  for (int64_t b = 0; b < 12; ++b) {
    // d/da_nb: (2 * 0.7 (sum v - 3) + 0.2 log((1 - v_b) / v_b)) / 8; the entropy term is flat where clamped.
    const bool inside = v[b] > 1e-6 && v[b] < 1 - 1e-6;
    const double want = (2 * 0.7 * (sum_v - 3) + (inside ? 0.2 * std::log((1 - v[b]) / v[b]) : 0.0)) / 8;
    for (int64_t n = 0; n < 8; ++n) EXPECT_NEAR(a.grad()[n][b].item<double>(), want, 1e-5) << n << "," << b;
  }
  // The term reaches the policy through the straight-through actions.
  method->global_k_loss(actions).backward();
  double policy_grad = 0;
  for (auto& p : method->net().policy().parameters()) {
    if (p.grad().defined()) policy_grad += p.grad().abs().sum().item<double>();
  }
  EXPECT_GT(policy_grad, 0.0);
}

TEST(SpotTuneTraining, GlobalKRoutesEveryImageAlikeAndSavesTheRoute) {
  const auto task = aft::testing::tiny_task();
  SpotTuneOptions options;
  options.global_k = 4;
  options.global_k_weight = 1.0;
  SpotTuneMethod method(options);
  method.attach(tiny_model("resnet26"));
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  aft::train::Trainer(method, aft::testing::tiny_options(2), task, hooks).fit();
  const auto route = method.global_route();
  ASSERT_EQ(route.size(0), method.net().num_blocks());
  EXPECT_TRUE(torch::equal(route * (1 - route), torch::zeros_like(route))) << "0/1 per block";
  // Every test image took that route: the per-block tuned fractions are the route itself.
  const auto report = method.report();
  const auto fractions = report.at("tuned_fraction").get<std::vector<double>>();
  for (int64_t b = 0; b < route.size(0); ++b) EXPECT_EQ(fractions[b], route[b].item<double>()) << b;
  EXPECT_EQ(report.at("global_k").at("tuned_blocks").size(), static_cast<size_t>(route.sum().item<double>()));
  // The route is part of the model's state, so a saved run reopens with it.
  bool saved = false;
  for (const auto& [name, t] : aft::models::state_dict(*method.module())) saved = saved || name == "global_route";
  EXPECT_TRUE(saved);
}

TEST(SpotTuneTraining, FrozenCopiesBitIdenticalPolicyLearns) {
  const auto task = aft::testing::tiny_task();
  for (const std::string frozen_bn : {"freeze", "train"}) {
    SpotTuneOptions options;
    options.frozen_bn = frozen_bn;
    SpotTuneMethod method(options);
    method.attach(tiny_model("resnet26"));
    auto& net = method.net();
    std::vector<std::map<std::string, torch::Tensor>> frozen_before;
    for (auto& b : net.frozen_blocks()) frozen_before.push_back(snapshot(*b));
    const auto tuned_before = snapshot(*net.tuned_blocks()[0]);
    const auto policy_before = snapshot(net.policy());
    auto train_options = aft::testing::tiny_options(2);
    aft::train::TrainerHooks hooks;
    hooks.quiet = true;
    aft::train::Trainer trainer(method, train_options, task, hooks);
    // The policy's own rate, whatever --lr is: its optimizer groups (2 and 3) start at --policy-lr.
    EXPECT_NEAR(trainer.groups()[1].base_lr(train_options.lr), options.policy_lr, 1e-12);
    for (size_t g : {2, 3}) {
      const auto& sgd = dynamic_cast<const torch::optim::SGDOptions&>(trainer.optimizer().param_groups()[g].options());
      EXPECT_NEAR(sgd.lr(), options.policy_lr, 1e-12) << g;
    }
    trainer.fit();
    for (size_t b = 0; b < frozen_before.size(); ++b) {
      const auto after = snapshot(*net.frozen_blocks()[b]);
      if (frozen_bn == "freeze") {
        EXPECT_TRUE(same(frozen_before[b], after)) << "frozen block " << b << " changed";
      } else {
        for (auto& [name, t] : frozen_before[b]) {
          const bool conv = name.rfind("conv", 0) == 0;
          EXPECT_EQ(torch::equal(t, after.at(name)), conv) << frozen_bn << " block " << b << " " << name;
        }
      }
    }
    EXPECT_FALSE(same(tuned_before, snapshot(*net.tuned_blocks()[0]))) << "tuned copy did not train";
    EXPECT_FALSE(same(policy_before, snapshot(net.policy()))) << "no gradient reached the policy";

    const auto report = method.report();
    const int64_t blocks = net.num_blocks();
    ASSERT_EQ(report.at("tuned_fraction").size(), static_cast<size_t>(blocks));
    EXPECT_EQ(report.at("routed_images").get<int64_t>(), static_cast<int64_t>(task.splits.test_indices.size()));
    double sum = 0;
    for (auto& f : report.at("tuned_fraction")) sum += f.get<double>();
    EXPECT_NEAR(report.at("mean_tuned_blocks").get<double>(), sum, 1e-9);
    int64_t histogram_total = 0;
    for (auto& n : report.at("tuned_blocks_histogram")) histogram_total += n.get<int64_t>();
    EXPECT_EQ(histogram_total, report.at("routed_images").get<int64_t>());
    EXPECT_TRUE(report.contains("inference"));
    std::cout << "[ report ] frozen-bn " << frozen_bn << ": " << report.dump() << std::endl;
  }
}

TEST(SpotTuneRun, SavedRunReloadsThroughLoadRun) {
  namespace dt = aft::data::testing;
  const std::string dir = dt::temp_dir("spottune_run");
  dt::make_folder(dir + "/data", {"a", "b", "c"}, 8, 4);
  auto source = aft::testing::tiny_resnet(3, 7);
  aft::models::save_weights(*source, dir + "/source.safetensors", aft::models::model_metadata(*source));

  aft::run::JobSpec spec;
  spec.data = dir + "/data";
  spec.out = dir + "/run";
  spec.model.weights = dir + "/source.safetensors";
  spec.method = "spottune";
  spec.method_options = std::make_unique<SpotTuneOptions>();
  spec.train = aft::testing::tiny_options(1);
  spec.train.val_fraction = 0.25;
  spec.quiet = true;
  const auto summary = aft::run::run_job(spec);
  const auto& report = summary.at("method_report");
  ASSERT_EQ(report.at("tuned_fraction").size(), 8u);
  EXPECT_EQ(report.at("routed_images").get<int64_t>(), 12);

  // The policy and both copies are in model.safetensors: the reopened run scores the same.
  auto loaded = aft::run::load_run(spec.out, "cpu");
  aft::data::DataOptions data_options;
  data_options.root = spec.data;
  data_options.val_fraction = spec.train.val_fraction;
  data_options.seed = static_cast<uint64_t>(spec.train.seed);
  const auto splits = aft::data::open_splits(data_options);
  aft::data::Loader loader(splits.test, splits.test_indices, loaded.eval_transform, {});
  const auto result = aft::train::evaluate(*loaded.method, loader, torch::kCPU, "off", false, "test");
  EXPECT_EQ(result.accuracy, summary.at("test_accuracy").get<double>());
  EXPECT_NEAR(result.loss, summary.at("test_loss").get<double>(), 1e-5);
  EXPECT_EQ(loaded.method->report().at("tuned_fraction"), report.at("tuned_fraction"));
}

// Not part of the suite (seconds of CPU time): the inference speed-up of split routing on the
// reference ResNet-26 (width 1, 64 px). Run with --gtest_also_run_disabled_tests.
TEST(SpotTuneBench, DISABLED_InferenceSpeedup) {
  torch::manual_seed(0);
  aft::models::ModelConfig c;
  c.arch = "resnet26";
  c.num_classes = 100;
  c.image_size = 64;
  SpotTuneMethod method{SpotTuneOptions{}};
  method.attach(aft::models::build_model(c));
  method.set_training(false);
  auto& net = method.net();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({64, 3, 64, 64});
  auto time_ms = [&](const std::function<torch::Tensor()>& fn) {
    fn();
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < 5; ++r) fn().sum().item<double>();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 5;
  };
  const double plain = time_ms([&] { return net.backbone().forward(images); });
  const double policy = time_ms([&] { return net.policy().forward(images); });
  std::cout << "[ bench ] resnet26 64px batch 64: plain network " << plain << " ms, policy " << policy << " ms\n";
  for (double p : {0.0, 0.25, 0.5, 1.0}) {
    const auto actions = torch::rand({64, net.num_blocks()}).lt(p).to(torch::kFloat32);
    const double two = time_ms([&] { return net.forward_two_path(images, actions); });
    const double split = time_ms([&] { return net.forward_split(images, actions); });
    std::cout << "[ bench ] tuned fraction " << p << ": two-path " << two << " ms, split " << split
              << " ms, speed-up " << two / split << "x (blocks only, policy excluded)" << std::endl;
  }
  std::cout << "[ bench ] method report timing (argmax routing of a random policy): "
            << method.time_inference(images, 5).dump() << std::endl;
}

}  // namespace
