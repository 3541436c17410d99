// What aft was built with and what it runs on: its own version, LibTorch's, CUDA, and
// which BLAS library the process actually loaded (the reference BLAS is ~10x slower).
#pragma once
#include <string>

namespace aft {

std::string version();
std::string libtorch_version();
bool cuda_available();
// The shared BLAS library mapped into this process (e.g. "openblas-pthread"), or "unknown".
std::string loaded_blas();
// One block of text for `aft --version` and config.json.
std::string version_report();

}  // namespace aft
