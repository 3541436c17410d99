// Device and thread selection shared by every subcommand (--device, --threads, --seed).
#pragma once
#include <torch/types.h>

#include <string>

namespace aft {

// "auto" picks cuda:0 when available, else cpu; "cuda:N" is checked against the device count.
torch::Device parse_device(const std::string& spec);
// Sets LibTorch's intra-op threads (0: OMP_NUM_THREADS if set, else one per core).
void set_threads(int threads);
// Seeds LibTorch's CPU (and CUDA) generators.
void seed_everything(uint64_t seed);

}  // namespace aft
