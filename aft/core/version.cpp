#include "aft/core/version.h"

#include <link.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <climits>
#include <cstdlib>
#include <sstream>

#include "aft/core/device.h"

namespace aft {

std::string version() { return AFT_VERSION; }

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

bool cuda_available() { return torch::cuda::is_available(); }

namespace {
int find_blas(struct dl_phdr_info* info, size_t, void* data) {
  auto* found = static_cast<std::string*>(data);
  std::string name = info->dlpi_name ? info->dlpi_name : "";
  // Debian's alternatives make libblas.so.3 a symlink into a directory naming the implementation.
  if (char* real = ::realpath(name.c_str(), nullptr)) {
    name = real;
    std::free(real);
  }
  for (const char* key : {"openblas-pthread", "openblas-openmp", "openblas-serial", "openblas",
                          "blis-pthread", "blis-openmp", "blis", "mkl", "atlas"}) {
    if (name.find(key) != std::string::npos) {
      *found = key;
      return 1;
    }
  }
  if (name.find("libblas.so") != std::string::npos && found->empty()) *found = "reference (" + name + ")";
  return 0;
}
}  // namespace

std::string loaded_blas() {
  // Force LibTorch to touch BLAS so lazily loaded libraries are mapped.
  (void)torch::mm(torch::ones({2, 2}), torch::ones({2, 2}));
  std::string found;
  dl_iterate_phdr(find_blas, &found);
  return found.empty() ? "unknown" : found;
}

std::string version_report() {
  std::ostringstream out;
  out << "aft " << version() << "\n"
      << "LibTorch " << libtorch_version() << "\n"
      << "CUDA " << (cuda_available() ? "available" : "not available") << "\n"
      << "BLAS " << loaded_blas() << "\n"
      << "threads " << torch::get_num_threads() << " (" << threads_reason() << ")";
  return out.str();
}

}  // namespace aft
