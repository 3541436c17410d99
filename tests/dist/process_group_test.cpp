// Collectives, gradient averaging and failure handling of aft::dist on loopback, with the
// ranks as threads of this process (fast; the multi-process CLI tests are in tests/apps/aft).
#include "aft/dist/process_group.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "aft/core/error.h"
#include "aft/dist/grad_sync.h"
#include "tests/dist/dist_test_util.h"

namespace {

using aft::testing::run_ranks;

TEST(ProcessGroup, OneProcessFormsNoGroup) {
  aft::dist::LaunchEnv env;
  EXPECT_EQ(aft::dist::Group::create(env, {}), nullptr);
  EXPECT_TRUE(aft::dist::backend_available("gloo"));
}

TEST(ProcessGroup, AllReduceBroadcastAndSum) {
  run_ranks(3, 30, [](aft::dist::Group& g) {
    EXPECT_EQ(g.world(), 3);
    EXPECT_EQ(g.backend(), "gloo");
    auto t = torch::full({4}, static_cast<float>(g.rank() + 1));
    g.allreduce_sum(t);
    EXPECT_TRUE(torch::equal(t, torch::full({4}, 6.0f)));
    auto b = torch::full({2, 2}, static_cast<double>(g.rank()));
    g.broadcast(b, 1);
    EXPECT_TRUE(torch::equal(b, torch::full({2, 2}, 1.0, torch::kFloat64)));
    const auto s = g.sum({1.0, static_cast<double>(g.rank()), 0.5});
    EXPECT_EQ(s, (std::vector<double>{3.0, 3.0, 1.5}));
    g.barrier();
  });
}

TEST(GradientSync, AveragesBucketsAndKeepsAbsentGradientsAbsent) {
  run_ranks(2, 30, [](aft::dist::Group& g) {
    // Four parameters over several tiny buckets: a is present on both ranks, b on rank 1 only,
    // c nowhere, d (float64) on both.
    auto a = torch::zeros({3, 2}, torch::requires_grad());
    auto b = torch::zeros({5}, torch::requires_grad());
    auto c = torch::zeros({2}, torch::requires_grad());
    auto d = torch::zeros({2}, torch::dtype(torch::kFloat64).requires_grad(true));
    a.mutable_grad() = torch::full({3, 2}, g.rank() == 0 ? 1.0f : 3.0f);
    if (g.rank() == 1) b.mutable_grad() = torch::full({5}, 4.0f);
    d.mutable_grad() = torch::full({2}, static_cast<double>(g.rank()), torch::kFloat64);
    aft::dist::GradientSync sync(std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {}), {a, b, c, d},
                                 /*bucket_bytes=*/16);
    EXPECT_GE(sync.buckets(), 3u);
    sync.average();
    EXPECT_TRUE(torch::allclose(a.grad(), torch::full({3, 2}, 2.0f)));
    ASSERT_TRUE(b.grad().defined());
    EXPECT_TRUE(torch::allclose(b.grad(), torch::full({5}, 2.0f)));
    EXPECT_FALSE(c.grad().defined());
    EXPECT_TRUE(torch::allclose(d.grad(), torch::full({2}, 0.5, torch::kFloat64)));
  });
}

// The gradient each rank should end with: the mean over ranks' data, computed locally.
std::vector<torch::Tensor> expected_average(torch::nn::Sequential net, const std::vector<torch::Tensor>& inputs) {
  std::vector<torch::Tensor> sum;
  for (const auto& x : inputs) {
    net->zero_grad();
    net->forward(x).pow(2).mean().backward();
    for (size_t i = 0; i < net->parameters().size(); ++i) {
      const auto g = net->parameters()[i].grad().clone();
      if (sum.size() <= i) {
        sum.push_back(g);
      } else {
        sum[i] += g;
      }
    }
  }
  for (auto& g : sum) g /= static_cast<double>(inputs.size());
  return sum;
}

TEST(GradientSync, BucketsStartDuringBackwardAndAverageExactly) {
  // The random draws happen here, once: the ranks are threads sharing one global generator,
  // so seeding inside them would interleave their draws and give each rank different data.
  auto make_net = [] {
    return torch::nn::Sequential(torch::nn::Linear(6, 8), torch::nn::Tanh(), torch::nn::Linear(8, 8),
                                 torch::nn::Tanh(), torch::nn::Linear(8, 2));
  };
  torch::manual_seed(11);
  const auto start = make_net();
  const std::vector<torch::Tensor> inputs = {torch::randn({5, 6}), torch::randn({5, 6})};
  run_ranks(2, 30, [&](aft::dist::Group& g) {
    auto net = make_net();
    auto reference = make_net();
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < net->parameters().size(); ++i) {
        net->parameters()[i].copy_(start->parameters()[i]);
        reference->parameters()[i].copy_(start->parameters()[i]);
      }
    }
    const auto expected = expected_average(reference, inputs);
    // Tiny buckets: one or two parameters each, so several can start before backward ends.
    aft::dist::GradientSync sync(std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {}), net->parameters(),
                                 /*bucket_bytes=*/64);
    ASSERT_GE(sync.buckets(), 3u);
    for (int step = 0; step < 3; ++step) {
      net->zero_grad();
      net->forward(inputs[static_cast<size_t>(g.rank())]).pow(2).mean().backward();
      sync.average();
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_TRUE(torch::allclose(net->parameters()[i].grad(), expected[i], 1e-6, 1e-7)) << "step " << step << " " << i;
      }
      // The first backward only learns the graph; from then on buckets start during backward.
      if (step == 0) EXPECT_EQ(sync.overlapped_last_step(), 0u);
      if (step > 0) EXPECT_GT(sync.overlapped_last_step(), 0u);
      EXPECT_TRUE(sync.overlapping());
    }
  });
}

TEST(GradientSync, GradientsAccumulatedOverTwoBackwardsWaitForBoth) {
  // A weight used twice in one graph reaches its accumulator once (autograd sums first), but
  // two backward passes before average() (accumulation over micro-batches) reach it twice:
  // a bucket started after the first would miss the second.
  torch::manual_seed(3);  // outside the rank threads, as above
  const auto w0 = torch::randn({4, 4});
  const auto b0 = torch::randn({4});
  run_ranks(2, 30, [&](aft::dist::Group& g) {
    auto w = w0.clone().requires_grad_(true);
    auto b = b0.clone().requires_grad_(true);
    auto loss = [&](float v) {
      const auto in = torch::full({2, 4}, v);
      return torch::tanh(torch::tanh(in.matmul(w) + b).matmul(w)).sum();  // w twice
    };
    // Expected: the mean over ranks of each rank's two micro-batches, computed here.
    torch::Tensor gw = torch::zeros({4, 4}), gb = torch::zeros({4});
    for (int r = 0; r < 2; ++r) {
      for (int half = 0; half < 2; ++half) {
        auto grads = torch::autograd::grad({loss(static_cast<float>(r + 1 + 10 * half))}, {w, b});
        gw += grads[0] / 2;
        gb += grads[1] / 2;
      }
    }
    aft::dist::GradientSync sync(std::shared_ptr<aft::dist::Group>(&g, [](aft::dist::Group*) {}), {w, b},
                                 /*bucket_bytes=*/16);
    for (int step = 0; step < 2; ++step) {
      w.mutable_grad() = torch::Tensor();
      b.mutable_grad() = torch::Tensor();
      for (int half = 0; half < 2; ++half) loss(static_cast<float>(g.rank() + 1 + 10 * half)).backward();
      sync.average();
      EXPECT_TRUE(torch::allclose(w.grad(), gw, 1e-5, 1e-6)) << step;
      EXPECT_TRUE(torch::allclose(b.grad(), gb, 1e-5, 1e-6)) << step;
      EXPECT_FALSE(sync.overlapping());
      EXPECT_EQ(sync.overlapped_last_step(), 0u);
    }
  });
}

TEST(GradientSync, BroadcastModuleCopiesRankZero) {
  run_ranks(2, 30, [](aft::dist::Group& g) {
    torch::manual_seed(static_cast<uint64_t>(g.rank()) + 7);
    torch::nn::Sequential net(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4));
    {
      torch::NoGradGuard no_grad;
      for (auto& buf : net->buffers()) buf.fill_(g.rank() + 1);
    }
    aft::dist::broadcast_module(g, *net);
    auto flat = torch::cat({net->parameters()[0].reshape(-1), net->parameters()[1].reshape(-1)});
    auto copy = flat.clone();
    g.broadcast(copy, 0);
    EXPECT_TRUE(torch::equal(flat, copy));
    for (auto& buf : net->buffers()) EXPECT_EQ(buf.reshape(-1)[0].item<double>(), 1.0);
  });
}

TEST(ProcessGroup, AHungPeerIsAClearErrorWithinTheTimeout) {
  std::string message;
  double waited = 0;
  run_ranks(2, 2.0, [&](aft::dist::Group& g) {
    if (g.rank() == 1) {
      std::this_thread::sleep_for(std::chrono::seconds(4));  // never joins the all-reduce in time
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    auto t = torch::ones({8});
    try {
      g.allreduce_sum(t);
    } catch (const aft::Error& e) {
      message = e.what();
    }
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  EXPECT_NE(message.find("distributed all-reduce failed on rank 0 of 2"), std::string::npos) << message;
  EXPECT_NE(message.find("--dist-timeout 2"), std::string::npos) << message;
  EXPECT_LT(waited, 4.0);
}

TEST(ProcessGroup, ExchangeWaitsForABusyPeerPastTheTimeout) {
  // Rank 1 works three times --dist-timeout before it meets rank 0: its heartbeat says it is
  // alive, so rank 0 waits; both leave with every rank's message, in rank order.
  std::vector<std::vector<std::string>> got(2);
  run_ranks(2, 1.0, [&](aft::dist::Group& g) {
    if (g.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(3));
    got[static_cast<size_t>(g.rank())] = g.exchange(std::string("from ") + std::to_string(g.rank()) + '\0' + "end");
    // A second meeting is a new one: nobody reads the first one's messages again.
    EXPECT_EQ(g.exchange(std::to_string(10 + g.rank())), (std::vector<std::string>{"10", "11"}));
  });
  const std::vector<std::string> expected{std::string("from 0") + '\0' + "end", std::string("from 1") + '\0' + "end"};
  EXPECT_EQ(got[0], expected);
  EXPECT_EQ(got[1], expected);
}

TEST(ProcessGroup, ExchangeFailsWhenAPeerStopsBeating) {
  std::string message;
  double waited = 0;
  run_ranks(2, 1.0, [&](aft::dist::Group& g) {
    if (g.rank() == 1) return;  // gone: its group, and with it its heartbeat, ends here
    const auto start = std::chrono::steady_clock::now();
    try {
      g.exchange("hello");
    } catch (const aft::Error& e) {
      message = e.what();
    }
    waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  EXPECT_NE(message.find("distributed exchange on rank 0 of 2: rank 1 has sent no heartbeat for 1 s"), std::string::npos)
      << message;
  EXPECT_GE(waited, 1.0);
  EXPECT_LT(waited, 5.0);
}

TEST(ProcessGroup, AMissingPeerFailsTheRendezvousWithinTheTimeout) {
  aft::dist::DistOptions options;
  options.timeout = 1.5;
  const auto start = std::chrono::steady_clock::now();
  try {
    aft::dist::Group::create(aft::testing::loopback_env(0, 2, aft::testing::free_port()), options);
    FAIL() << "rendezvous without rank 1 succeeded";
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("distributed rendezvous at 127.0.0.1:"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

TEST(DistOptions, Validation) {
  aft::dist::DistOptions o;
  o.timeout = 0;
  EXPECT_THROW(o.validate(), aft::Error);
  o.timeout = 5;
  o.backend = "mpi";
  EXPECT_THROW(o.validate(), aft::Error);
}

}  // namespace
