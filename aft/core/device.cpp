#include "aft/core/device.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "aft/core/error.h"

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

void set_threads(int threads) {
  // Debian's LibTorch starts with one intra-op thread; 0 means "use every core", unless
  // OMP_NUM_THREADS says otherwise (as in PyTorch, so one variable bounds a whole job).
  if (threads <= 0) {
    const char* omp = std::getenv("OMP_NUM_THREADS");
    const int from_env = omp != nullptr ? std::atoi(omp) : 0;
    threads = from_env > 0 ? from_env : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  torch::set_num_threads(threads);
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

}  // namespace aft
