#include "aft/core/device.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

#include "aft/core/error.h"
#include "aft/core/log.h"

namespace aft {

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device("cuda:0") : torch::Device("cpu");
  if (spec == "cpu") return torch::Device("cpu");
  if (spec.rfind("cuda", 0) == 0) {
    check(torch::cuda::is_available(), "--device ", spec,
          ": this LibTorch has no CUDA device available (use cpu or auto)");
    torch::Device device("cpu");
    try {
      device = torch::Device(spec);
    } catch (const std::exception&) {
      fail("--device ", spec, ": expected auto, cpu, cuda or cuda:N");
    }
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    check(!device.has_index() || device.index() < count, "--device ", spec, ": only ", count,
          " CUDA device(s) present");
    return device;
  }
  fail("--device ", spec, ": expected auto, cpu, cuda or cuda:N");
}

namespace {

std::string g_threads_reason = "LibTorch's default";

// Idle and total jiffies over all cores (the first line of /proc/stat); false where unreadable.
bool cpu_times(uint64_t& idle, uint64_t& total) {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  if (!in || cpu != "cpu") return false;
  idle = total = 0;
  uint64_t v = 0;
  for (int field = 0; field < 8 && in >> v; ++field) {  // user nice system idle iowait irq softirq steal
    total += v;
    if (field == 3 || field == 4) idle += v;
  }
  return total > 0;
}

}  // namespace

double idle_cores(int sample_ms) {
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  uint64_t idle0 = 0, total0 = 0, idle1 = 0, total1 = 0;
  if (!cpu_times(idle0, total0)) return cores;
  std::this_thread::sleep_for(std::chrono::milliseconds(sample_ms));
  if (!cpu_times(idle1, total1) || total1 <= total0) return cores;
  return cores * static_cast<double>(idle1 - idle0) / static_cast<double>(total1 - total0);
}

void set_threads(int threads) {
  check(threads >= 0, "--threads ", threads, ": must be >= 0 (0 = all cores)");
  // Debian's LibTorch starts with one intra-op thread; 0 means "every free core", unless
  // OMP_NUM_THREADS says otherwise (as in PyTorch, so one variable bounds a whole job).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > cores) {
    // More compute threads than cores only contend (10,000 made ~900 threads and stalled).
    log::warn("--threads " + std::to_string(threads) + ": more than the " + std::to_string(cores) +
              " cores; using " + std::to_string(cores));
    threads = cores;
    g_threads_reason = "--threads, capped at the cores";
  } else if (threads > 0) {
    g_threads_reason = "--threads " + std::to_string(threads);
  } else if (const char* omp = std::getenv("OMP_NUM_THREADS"); omp != nullptr && std::atoi(omp) > 0) {
    threads = std::atoi(omp);
    g_threads_reason = "OMP_NUM_THREADS";
  } else {
    const double idle = cores > 1 ? idle_cores() : 1.0;
    threads = std::clamp(static_cast<int>(std::lround(idle)), 1, cores);
    std::ostringstream why;
    why << std::fixed << std::setprecision(1) << idle << " of " << cores << " cores idle";
    g_threads_reason = why.str();
  }
  torch::set_num_threads(threads);
}

std::string threads_reason() { return g_threads_reason; }

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

}  // namespace aft
