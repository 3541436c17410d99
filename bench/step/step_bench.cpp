// The aft side of the training-step benchmark (docs/benchmarks.md section 1): builds a case's model
// with aft's builders, sets up the trainable set through aft's own method objects (full,
// partial, contribution, spottune) and the optimizer through a real Trainer, then times the
// Trainer's per-batch step on a fixed random batch. bench/step/step_torch.py is the PyTorch
// side; bench/step_bench.sh runs both interleaved and prints the table.
//
//   aft_step_bench --case NAME [--threads N] [--warmup 2] [--seconds 3] [--min-steps 3]
//                  [--device cpu|cuda] [--amp off|bf16] [--channels-last] [--batch N] [--inference]
//   aft_step_bench --list | --list-gpu | --gemm [--size 2048] [--threads N]
//
// --list gives the CPU cases (section 1); --list-gpu the 224-px cases of section 5 (ResNet-50,
// ViT-B/16), too heavy for a CPU and run by tools/gpu_check.sh with --device cuda --amp bf16.
//
// --inference times the method's prediction instead (eval mode, no gradient: what `aft eval` and
// `aft predict` run per batch); its line says "mode": "inference".
// Output: one JSON line. Timing: median step time; images/s = batch / median step time.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/core/device.h"
#include "aft/core/memory.h"
#include "aft/core/error.h"
#include "aft/data/dataset.h"
#include "aft/data/transforms.h"
#include "aft/methods/baselines.h"
#include "aft/methods/contribution.h"
#include "aft/methods/contribution_masks.h"
#include "aft/methods/partial.h"
#include "aft/methods/spottune.h"
#include "aft/models/model.h"
#include "aft/train/amp.h"
#include "aft/train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kClasses = 10;

struct Case {
  std::string name, arch, stem;
  double width;
  int64_t size, batch;
  std::string method;  // full | last | mask | mask_strict | spottune
  bool gpu = false;    // section 5: listed by --list-gpu only
};

// Keep in step with CASES in step_torch.py.
const std::vector<Case> kCases = {
    {"r18_32", "resnet18", "imagenet", 1.0, 32, 64, "full"},
    {"r18_64", "resnet18", "imagenet", 1.0, 64, 64, "full"},
    {"cifar_b32", "resnet18", "small", 0.25, 32, 32, "full"},
    {"cifar_b128", "resnet18", "small", 0.25, 32, 128, "full"},
    {"vit_ti4", "vit_ti_4", "imagenet", 1.0, 32, 32, "full"},
    {"r18_32_last", "resnet18", "imagenet", 1.0, 32, 64, "last"},
    {"r18_64_last", "resnet18", "imagenet", 1.0, 64, 64, "last"},
    {"cifar_b32_last", "resnet18", "small", 0.25, 32, 32, "last"},
    {"cifar_b128_last", "resnet18", "small", 0.25, 32, 128, "last"},
    {"vit_ti4_last", "vit_ti_4", "imagenet", 1.0, 32, 32, "last"},
    {"mask_cifar_b32", "resnet18", "small", 0.25, 32, 32, "mask"},
    {"mask_strict_cifar_b32", "resnet18", "small", 0.25, 32, 32, "mask_strict"},
    {"spottune_r26_64", "resnet26", "imagenet", 1.0, 64, 16, "spottune"},
    {"lite0_128", "efficientnet_lite0", "imagenet", 1.0, 128, 32, "full"},
    {"lite0_160", "efficientnet_lite0", "imagenet", 1.0, 160, 32, "full"},
    {"lite0_224", "efficientnet_lite0", "imagenet", 1.0, 224, 32, "full"},
    {"resnet50_224", "resnet50", "imagenet", 1.0, 224, 128, "full", true},
    {"vit_b16_224", "vit_b_16", "imagenet", 1.0, 224, 128, "full", true},
};

// Where and how a case runs; the defaults are section 1's (CPU, float32, contiguous).
struct RunOptions {
  std::string device = "cpu";
  std::string amp = "off";  // off|bf16; fp16 would need the Trainer's loss scaler in the step
  bool channels_last = false;
  int64_t batch = 0;        // 0: the case's own
  bool inference = false;   // time predict() in eval mode with no gradient, not the training step
};

// The Trainer needs a training split to build its loader; the benchmark never draws from it.
class TinyDataset : public aft::data::Dataset {
 public:
  TinyDataset() { classes_ = {"a", "b"}; }
  size_t size() const override { return 2; }
  int64_t label(size_t i) const override { return static_cast<int64_t>(i); }
  aft::data::Image image(size_t) const override { return {8, 8, std::vector<uint8_t>(8 * 8 * 3, 128)}; }
  std::string describe(size_t i) const override { return "tiny" + std::to_string(i); }
};

// Block-level units of the last stage: layer4 (ResNets) or the last quarter of the encoder (ViT).
std::vector<std::string> last_stage_units(const aft::models::VisionModel& model) {
  const auto units = model.units(aft::models::UnitLevel::block);
  std::vector<std::string> out;
  if (model.config().arch.rfind("vit_", 0) == 0) {
    for (int b : {9, 10, 11}) {
      const std::string block = "encoder.layers.encoder_layer_" + std::to_string(b);
      for (const auto& u : units) {
        if (u.block == block) out.push_back(u.name);
      }
    }
  } else {
    const std::string last = units.back().stage;
    for (const auto& u : units) {
      if (u.stage == last) out.push_back(u.name);
    }
  }
  return out;
}

std::shared_ptr<aft::methods::Method> make_method(const Case& c, aft::models::ModelPtr model) {
  using namespace aft::methods;
  std::shared_ptr<Method> method;
  if (c.method == "full") {
    const auto& info = find_method("full");
    method = info.create(*info.make_options());
  } else if (c.method == "last") {
    auto partial = std::make_shared<PartialMethod>(PartialOptions{});
    partial->set_units(last_stage_units(*model));
    method = partial;
  } else if (c.method == "mask" || c.method == "mask_strict") {
    // Masks on every layer unit at ratio 0.5 over the reference's value criterion (lowest
    // first); `mask` is the reference's grad *= mask (faithful), `mask_strict` aft's default.
    ContributionOptions o;
    o.ratio = 0.5;
    o.search_preset = "none";
    o.mask_mode = c.method == "mask" ? "faithful" : "strict";
    auto basis = std::make_shared<ContributionBasis>();
    basis->layout = RatioLayout::build(*model, "unit");
    basis->order =
        std::make_shared<ContributionOrder>(contribution_scores(*model, "value", nullptr, nullptr, 1), false);
    auto contribution = std::make_shared<ContributionMethod>(o);
    contribution->use_ratios(basis, std::vector<double>(basis->layout.units.size(), 0.5));
    method = contribution;
  } else if (c.method == "spottune") {
    SpotTuneOptions o;
    o.frozen_bn = "train";  // the reference: frozen copies' batch norms still train
    method = std::make_shared<SpotTuneMethod>(o);
  } else {
    aft::fail("unknown method ", c.method);
  }
  method->attach(std::move(model));
  return method;
}

int64_t count(const std::vector<torch::Tensor>& params, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : params) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

nlohmann::json time_case(const Case& c, int warmup, double seconds, int min_steps, const RunOptions& run) {
  const int64_t batch = run.batch > 0 ? run.batch : c.batch;
  torch::manual_seed(0);
  aft::models::ModelConfig config;
  config.arch = c.arch;
  config.num_classes = kClasses;
  config.stem = c.stem;
  config.width = c.width;
  config.image_size = c.size;
  auto method = make_method(c, aft::models::build_model(config));

  aft::train::TrainOptions options;
  options.epochs = 1;
  options.batch_size = batch;
  options.lr = 0.01;
  options.momentum = 0.9;
  options.weight_decay = 5e-4;
  options.device = run.device;
  options.amp = run.amp;
  options.channels_last = run.channels_last;
  options.workers = 1;
  aft::train::TrainData data;
  data.splits.train = data.splits.test = std::make_shared<TinyDataset>();
  data.splits.train_indices = {0, 1};
  data.train_transform = data.eval_transform = aft::data::make_preset("small", true, 8);
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.run_test = false;
  aft::train::Trainer trainer(*method, options, data, hooks);
  method->on_train_start(trainer);

  auto gen = torch::make_generator<at::CPUGeneratorImpl>(1);
  const auto device = trainer.device();
  // The batch is drawn on the CPU (the same numbers on every device) and stays on the device,
  // as on the PyTorch side: the step is timed, not the host-to-device copy.
  auto images = torch::randn({batch, 3, c.size, c.size}, gen, torch::kFloat32).to(device);
  if (run.channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
  const auto labels = torch::randint(0, kClasses, {batch}, gen, torch::kInt64).to(device);
  method->set_training(true);

  // The Trainer's own step (Trainer::step, what fit() runs per batch) on a fixed batch, with
  // no schedule and no progress line. Its .item() calls wait for the device, so a step's time
  // is complete on CUDA.
  double loss_sum = 0;
  int64_t correct = 0;
  std::vector<double> phase_ms(3, 0.0);  // forward, backward, masks + optimizer (all steps)
  const auto since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  int64_t index = 0;
  if (run.inference) method->set_training(false);
  const auto step = [&] {
    if (run.inference) {
      torch::NoGradGuard no_grad;
      aft::train::AutocastScope autocast(run.amp, device);
      // The sum's read waits for the device, as the training step's reads do.
      correct += method->predict(images).argmax(1).eq(labels).sum().item<int64_t>();
      return;
    }
    auto t = Clock::now();
    const auto stats = trainer.step(images, labels, 0, index++, [&](const char* phase) {
      phase_ms[std::string(phase) == "forward" ? 0 : 1] += since(t);
      t = Clock::now();
    });
    phase_ms[2] += since(t);
    loss_sum += stats.loss * batch;
    correct += stats.correct;
  };
  for (int i = 0; i < warmup; ++i) step();
  std::fill(phase_ms.begin(), phase_ms.end(), 0.0);
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < min_steps ||
         std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const auto t0 = Clock::now();
    step();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  double total = 0;
  for (double t : times) total += t;
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const auto params = method->module()->parameters();
  nlohmann::json out = {{"case", c.name},
          {"side", "aft"},
          {"threads", torch::get_num_threads()},
          {"batch", batch},
          {"steps", n},
          {"step_ms_median", median * 1e3},
          {"images_per_second", batch / median},
          {"images_per_second_mean", batch * n / total},
          {"params", count(params, false)},
          {"trainable_params", count(params, true)},
          {"phase_ms_mean", {{"forward", phase_ms[0] / n}, {"backward", phase_ms[1] / n}, {"step", phase_ms[2] / n}}}};
  if (run.inference) out["mode"] = "inference";
  if (run.device != "cpu") {  // section 1's lines keep their keys
    out["device"] = device.str();
    out["amp"] = run.amp;
    out["channels_last"] = run.channels_last;
  }
  return out;
}

nlohmann::json gemm(int64_t size) {
  const auto a = torch::randn({size, size}), b = torch::randn({size, size});
  torch::mm(a, b);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    torch::mm(a, b);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return {{"side", "aft"}, {"size", size}, {"threads", torch::get_num_threads()},
          {"gflops", 2.0 * double(size) * double(size) * double(size) / best / 1e9}};
}

int run(int argc, char** argv) {
  std::string name;
  bool list = false, list_gpu = false, do_gemm = false;
  RunOptions run_options;
  int threads = 0, warmup = 2, min_steps = 3;
  double seconds = 3.0;
  int64_t size = 2048;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      aft::check(i + 1 < argc, arg, " needs a value");
      return argv[++i];
    };
    if (arg == "--case") name = value();
    else if (arg == "--list") list = true;
    else if (arg == "--list-gpu") list_gpu = true;
    else if (arg == "--device") run_options.device = value();
    else if (arg == "--amp") run_options.amp = value();
    else if (arg == "--channels-last") run_options.channels_last = true;
    else if (arg == "--inference") run_options.inference = true;
    else if (arg == "--batch") run_options.batch = std::stoll(value());
    else if (arg == "--gemm") do_gemm = true;
    else if (arg == "--size") size = std::stoll(value());
    else if (arg == "--threads") threads = std::stoi(value());
    else if (arg == "--warmup") warmup = std::stoi(value());
    else if (arg == "--seconds") seconds = std::stod(value());
    else if (arg == "--min-steps") min_steps = std::stoi(value());
    else aft::fail("unknown argument ", arg, " (see the header of bench/step/step_bench.cpp)");
  }
  aft::set_threads(threads);
  aft::check(run_options.amp == "off" || run_options.amp == "bf16", "--amp ", run_options.amp,
             ": off or bf16 (an fp16 step would need the loss scaler)");
  aft::check(run_options.batch == 0 || run_options.batch >= 2, "--batch ", run_options.batch, ": must be >= 2");
  if (list || list_gpu) {
    for (const auto& c : kCases) {
      if (c.gpu == list_gpu) std::cout << c.name << "\n";
    }
    return 0;
  }
  if (do_gemm) {
    std::cout << gemm(size).dump() << std::endl;
    return 0;
  }
  for (const auto& c : kCases) {
    if (c.name == name) {
      std::cout << time_case(c, warmup, seconds, min_steps, run_options).dump() << std::endl;
      return 0;
    }
  }
  std::string names;
  for (const auto& c : kCases) names += (names.empty() ? "" : ", ") + c.name;
  aft::fail("--case ", name.empty() ? "(missing)" : name, ": unknown; one of ", names);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    aft::keep_freed_memory();  // as the aft binary does at start-up
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aft_step_bench: %s\n", e.what());
    return 1;
  }
}
