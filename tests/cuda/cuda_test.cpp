// The CUDA path, for a GPU machine (tools/gpu_build.sh builds this as aft_cuda_tests with
// -DAFT_BUILD_CUDA_TESTS=ON): the same numbers on CUDA as on the CPU, mixed precision (bf16,
// fp16 with its loss scale across a resume), channels-last, every method for one epoch, and
// NCCL. Every test skips where CUDA is absent, so the binary also runs, and says so, elsewhere.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "aft/core/fs.h"
#include "aft/dist/process_group.h"
#include "aft/methods/registry.h"
#include "aft/models/model.h"
#include "aft/models/weights.h"
#include "aft/run/job.h"
#include "aft/train/amp.h"
#include "aft/train/trainer.h"
#include "tests/cuda/skip_without_cuda.h"
#include "tests/data/data_test_util.h"
#include "tests/dist/dist_test_util.h"
#include "tests/train/tiny_task.h"

// aft/dist includes c10d's NCCL group only in -DAFT_WITH_NCCL=ON builds that find nccl.h; the
// one-rank check below talks to that same c10d class directly (see OneRankNcclGroup).
#if defined(AFT_WITH_NCCL) && __has_include(<nccl.h>)
#define AFT_TEST_NCCL 1
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {


using aft::models::ModelConfig;
using aft::models::ModelPtr;

// Largest absolute difference over the largest magnitude: one number per tensor that reads
// the same for logits and for gradients of any scale.
double relative_error(const torch::Tensor& expected, const torch::Tensor& actual) {
  const auto e = expected.detach().to(torch::kCPU, torch::kFloat64);
  const auto a = actual.detach().to(torch::kCPU, torch::kFloat64);
  const double scale = std::max(e.abs().max().item<double>(), 1e-12);
  return (e - a).abs().max().item<double>() / scale;
}

// Both models get the same parameters and buffers (build_model's initialisation is seeded, but
// copying makes the comparison independent of how each device draws random numbers).
void copy_state(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto source = aft::models::state_dict(from);
  for (auto& p : to.named_parameters(true)) p.value().copy_(source.at(p.key()));
  for (auto& b : to.named_buffers(true)) b.value().copy_(source.at(b.key()));
}

ModelPtr model_of(const std::string& arch, int64_t size) {
  ModelConfig c;
  c.arch = arch;
  c.num_classes = 10;
  c.image_size = size;
  torch::manual_seed(0);
  return aft::models::build_model(c);
}

struct Pass {
  torch::Tensor logits;
  std::map<std::string, torch::Tensor> grads;  // a few parameters: first, middle, head
};

// One training-mode forward (batch-norm statistics from the batch) and backward.
Pass forward_backward(aft::models::VisionModel& model, const torch::Tensor& images, const torch::Tensor& labels) {
  model.train();
  model.zero_grad();
  auto logits = model.forward(images);
  torch::nn::functional::cross_entropy(logits, labels).backward();
  Pass out{logits.detach(), {}};
  const auto params = model.named_parameters(true);
  const std::vector<size_t> picks = {0, params.size() / 2, params.size() - 2, params.size() - 1};
  for (size_t i : picks) {
    const auto& p = params[i];
    if (p.value().grad().defined()) out.grads[p.key()] = p.value().grad().detach().clone();
  }
  return out;
}

void expect_cuda_matches_cpu(const std::string& arch, int64_t size, int64_t batch, torch::Dtype dtype, double tolerance) {
  auto cpu = model_of(arch, size);
  auto gpu = model_of(arch, size);
  copy_state(*cpu, *gpu);
  cpu->to(dtype);
  gpu->to(torch::Device(torch::kCUDA), dtype);
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(7);
  const auto images = torch::randn({batch, 3, size, size}, gen, torch::kFloat32).to(dtype);
  const auto labels = torch::randint(0, 10, {batch}, gen, torch::kInt64);
  const auto expected = forward_backward(*cpu, images, labels);
  const auto actual = forward_backward(*gpu, images.to(torch::kCUDA), labels.to(torch::kCUDA));
  EXPECT_TRUE(actual.logits.is_cuda());
  EXPECT_LE(relative_error(expected.logits, actual.logits), tolerance) << arch << " logits, " << dtype;
  ASSERT_EQ(expected.grads.size(), 4u) << arch << ": the picked parameters must all have gradients";
  for (const auto& [name, g] : expected.grads) {
    ASSERT_TRUE(actual.grads.count(name)) << arch << " " << name << ": no gradient on CUDA";
    EXPECT_LE(relative_error(g, actual.grads.at(name)), tolerance) << arch << " gradient of " << name << ", " << dtype;
  }
}

// float64 shows that CUDA computes the same function, to rounding (no TF32 there); float32 is
// what training uses, where cuDNN may pick TF32 convolutions (a 10-bit mantissa), so it only
// catches gross errors (a wrong layout or index moves logits by their own size).
TEST(CudaModels, Resnet18ForwardBackwardMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  expect_cuda_matches_cpu("resnet18", 64, 4, torch::kFloat64, 1e-9);
  expect_cuda_matches_cpu("resnet18", 64, 4, torch::kFloat32, 5e-2);
}

TEST(CudaModels, VitB16ForwardBackwardMatchesCpu) {
  SKIP_WITHOUT_CUDA();
  expect_cuda_matches_cpu("vit_b_16", 64, 2, torch::kFloat64, 1e-9);
  expect_cuda_matches_cpu("vit_b_16", 64, 2, torch::kFloat32, 5e-2);
}

// What Trainer::setup does with --channels-last: 4-D parameters (and the input) in NHWC.
TEST(CudaModels, ChannelsLastGivesTheSameLogits) {
  SKIP_WITHOUT_CUDA();
  const torch::Device cuda(torch::kCUDA);
  auto plain = model_of("resnet18", 64);
  auto nhwc = model_of("resnet18", 64);
  copy_state(*plain, *nhwc);
  plain->to(cuda);
  nhwc->to(cuda);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : nhwc->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  plain->eval();
  nhwc->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({8, 3, 64, 64}, torch::TensorOptions().device(cuda));
  const auto images_nhwc = images.contiguous(at::MemoryFormat::ChannelsLast);
  ASSERT_TRUE(images_nhwc.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_LE(relative_error(plain->forward(images), nhwc->forward(images_nhwc)), 1e-2) << "float32";
  torch::Tensor a, b;
  {
    aft::train::AutocastScope autocast("bf16", cuda);
    a = plain->forward(images);
    b = nhwc->forward(images_nhwc);
  }
  EXPECT_LE(relative_error(a, b), 5e-2) << "bf16 autocast";
}

aft::methods::MethodPtr full_method(ModelPtr model) {
  const auto& info = aft::methods::find_method("full");
  auto method = info.create(*info.make_options());
  method->attach(std::move(model));
  return method;
}

bool all_finite(torch::nn::Module& module) {
  for (const auto& p : module.parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}

// --amp bf16 and fp16 (with the loss scaler), also with --channels-last: the Trainer's own loop
// on CUDA, losses finite (fit() throws on a non-finite one) and falling on a separable task.
TEST(CudaTraining, MixedPrecisionRunsTrainWithFiniteLosses) {
  SKIP_WITHOUT_CUDA();
  auto task = aft::testing::tiny_task();
  for (const std::string amp : {"bf16", "fp16"}) {
    for (const bool channels_last : {false, true}) {
      SCOPED_TRACE("--amp " + amp + (channels_last ? " --channels-last" : ""));
      auto options = aft::testing::tiny_options(4);
      options.device = "cuda";
      options.amp = amp;
      options.channels_last = channels_last;
      auto method = full_method(aft::testing::tiny_resnet());
      aft::train::TrainerHooks hooks;
      hooks.quiet = true;
      aft::train::TrainResult r;
      try {
        r = aft::train::Trainer(*method, options, task, hooks).fit();
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        continue;
      }
      ASSERT_EQ(r.history.size(), 4u);
      for (const auto& row : r.history) EXPECT_TRUE(std::isfinite(row.at("train_loss").get<double>())) << row.dump();
      EXPECT_LT(r.history.back().at("train_loss").get<double>(), r.history.front().at("train_loss").get<double>());
      EXPECT_TRUE(std::isfinite(r.test_loss));
      EXPECT_TRUE(all_finite(*method->module()));
      EXPECT_TRUE(method->module()->parameters().front().is_cuda());
    }
  }
}

// Where the loss scale lives in a checkpoint: a key "loss_scale" anywhere in state.json.
const nlohmann::json* find_key(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) return nullptr;
  if (j.contains(key)) return &j.at(key);
  for (const auto& [k, v] : j.items()) {
    if (const auto* found = find_key(v, key)) return found;
  }
  return nullptr;
}

double checkpointed_loss_scale(const std::string& dir) {
  const auto state = aft::fs::read_json(dir + "/state.json");
  const auto* scale = find_key(state, "loss_scale");
  if (scale == nullptr || !scale->is_number()) {
    ADD_FAILURE() << dir << "/state.json holds no \"loss_scale\": the fp16 loss scale is not checkpointed, so a "
                  << "resumed run starts again from 65536 (keys: " << state.dump().substr(0, 200) << ")";
    return -1;
  }
  return scale->get<double>();
}

// fp16: a head scaled up 1000x makes the scaled gradients overflow float16 at the initial scale
// 65536 (the loss itself stays finite), so the scaler must halve it and skip steps. An
// interrupted-and-resumed run must then continue with the scale it had (no skipped steps to
// find it again): its checkpointed scale and its weights equal the uninterrupted run's.
TEST(CudaTraining, Fp16LossScaleSurvivesResume) {
  SKIP_WITHOUT_CUDA();
  auto task = aft::testing::tiny_task();
  auto options = aft::testing::tiny_options(2);
  options.device = "cuda";
  options.amp = "fp16";
  options.lr = 1e-3;       // a 1000x head: keep the steps small
  options.grad_clip = 1.0;
  const auto overflowing = [](uint64_t seed) {
    auto model = aft::testing::tiny_resnet(3, seed);
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      if (p.key() == model->head_prefix() + ".weight") p.value().mul_(1000.0);
    }
    return model;
  };
  const std::string root = ::testing::TempDir() + "/aft_cuda_fp16_resume";
  aft::fs::remove_all(root);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.run_test = false;

  auto straight = full_method(overflowing(0));
  hooks.checkpoint_dir = root + "/straight";
  aft::train::Trainer(*straight, options, task, hooks).fit();

  auto interrupted = full_method(overflowing(0));
  hooks.checkpoint_dir = root + "/resumed";
  hooks.after_epoch = [](int64_t, double) { return false; };  // "killed" after epoch 1 of 2
  aft::train::Trainer(*interrupted, options, task, hooks).fit();
  const double after_epoch1 = checkpointed_loss_scale(hooks.checkpoint_dir);
  if (after_epoch1 > 0) {
    EXPECT_LT(after_epoch1, 65536.0) << "the test's premise: float16 gradients overflowed";
  }

  hooks.after_epoch = nullptr;
  hooks.resume = true;
  auto resumed = full_method(overflowing(99));  // other weights: the checkpoint must win
  aft::train::Trainer(*resumed, options, task, hooks).fit();

  EXPECT_EQ(checkpointed_loss_scale(root + "/resumed"), checkpointed_loss_scale(root + "/straight"));
  const auto a = aft::models::state_dict(*straight->module());
  const auto b = aft::models::state_dict(*resumed->module());
  for (const auto& [name, t] : a) {
    // Not bit-equal: cuDNN's backward may sum in any order. A skipped step differs by far more.
    EXPECT_LE(relative_error(t, b.at(name)), 1e-3) << name;
  }
}

// Every registered method, as `aft demo` runs it (its demo budget, two source runs where it
// takes sources), for one epoch on CUDA through run_job.
TEST(CudaMethods, EveryMethodRunsOneEpoch) {
  SKIP_WITHOUT_CUDA();
  namespace dt = aft::data::testing;
  const std::string dir = dt::temp_dir("cuda_methods");
  dt::make_folder(dir + "/data", {"a", "b", "c"}, 12, 4);
  const auto job = [&](const std::string& command, const std::string& out) {
    aft::run::JobSpec spec;
    spec.command = command;
    spec.data = dir + "/data";
    spec.out = dir + "/" + out;
    spec.train = aft::testing::tiny_options(1);
    spec.train.device = "cuda";
    spec.train.val_fraction = 0.25;
    spec.train.batch_size = 8;
    spec.quiet = true;
    return spec;
  };
  std::vector<std::string> sources;
  for (const std::string name : {"source0", "source1"}) {
    auto spec = job("pretrain", name);
    spec.model.model = "resnet18";
    spec.model.stem = "small";
    spec.model.width = 0.125;
    spec.train.seed = static_cast<int64_t>(sources.size());
    ASSERT_NO_THROW(aft::run::run_job(spec)) << "pretraining " << name;
    sources.push_back(spec.out);
  }
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
      const auto config = aft::fs::read_json(spec.out + "/config.json");
      EXPECT_EQ(config.at("device").get<std::string>().rfind("cuda", 0), 0u) << info.name << " ran on " << config.at("device");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "--method " << info.name << " on CUDA: " << e.what();
    }
  }
}

// aft forms no group for one process (Group::create returns null), so one rank is checked on
// c10d's ProcessGroupNCCL itself, the class aft::dist wraps; with two GPUs, through aft.
TEST(CudaNccl, OneRankNcclGroupAllReduces) {
  SKIP_WITHOUT_CUDA();
#ifndef AFT_WITH_NCCL
  GTEST_SKIP() << "built without -DAFT_WITH_NCCL=ON";
#else
  EXPECT_TRUE(aft::dist::backend_available("nccl")) << "-DAFT_WITH_NCCL=ON, but aft/dist was built without nccl.h";
#ifndef AFT_TEST_NCCL
  FAIL() << "-DAFT_WITH_NCCL=ON, but nccl.h is not on the include path";
#else
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, 0, 1, c10d::ProcessGroupNCCL::Options::create());
  std::vector<at::Tensor> tensors{torch::arange(8, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA))};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  group->allreduce(tensors, o)->wait();
  EXPECT_TRUE(torch::equal(tensors[0].cpu(), torch::arange(8, torch::kFloat32)));
#endif
#endif
}

TEST(CudaNccl, TwoGpuGroupThroughAft) {
  SKIP_WITHOUT_CUDA();
  if (torch::cuda::device_count() < 2) {
    GTEST_SKIP() << "one GPU: NCCL refuses two ranks on the same device";
  }
  if (!aft::dist::backend_available("nccl")) {
    GTEST_SKIP() << "no NCCL backend in this build";
  }
  const int port = aft::testing::free_port();
  std::vector<std::exception_ptr> errors(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      try {
        aft::dist::DistOptions options;
        options.backend = "nccl";
        options.timeout = 60;
        const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(r));
        auto group = aft::dist::Group::create(aft::testing::loopback_env(r, 2, port), options, device);
        auto t = torch::full({4}, static_cast<float>(r + 1), torch::TensorOptions().device(device));
        group->allreduce_sum(t);
        if (!torch::equal(t.cpu(), torch::full({4}, 3.0f))) throw std::runtime_error("wrong all-reduce sum");
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace
