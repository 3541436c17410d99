// Device and thread selection shared by every subcommand (--device, --threads, --seed).
#pragma once
#include <torch/types.h>

#include <string>

namespace aft {

// "auto" picks cuda:0 when available, else cpu; "cuda:N" is checked against the device count.
torch::Device parse_device(const std::string& spec);
// Sets LibTorch's intra-op threads. 0: OMP_NUM_THREADS if set, else one per core that no
// other process is using (a busy machine: OpenMP threads that share a core with another busy
// process spin-wait for each other, so 2 threads on 1 free core run slower than 1 thread).
void set_threads(int threads);
// Cores left idle by every process, from /proc/stat over `sample_ms`; the core count where
// /proc/stat cannot be read.
double idle_cores(int sample_ms = 50);
// How set_threads chose its count, for `aft --version` ("2 of 2 cores idle", "--threads 3", ...).
std::string threads_reason();
// Seeds LibTorch's CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

}  // namespace aft
