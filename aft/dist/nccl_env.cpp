#include "aft/dist/nccl_env.h"

#include <cstdlib>

#include "aft/core/torch_compat.h"

namespace aft::dist {

NcclErrorHandling default_nccl_error_handling() {
  // LibTorch 2.2 and later read the current name and, failing it, the old one.
  for (const char* name : {AFT_TORCH_NCCL_ERROR_HANDLING_ENV, "NCCL_ASYNC_ERROR_HANDLING"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v) return {name, v, false};
  }
  setenv(AFT_TORCH_NCCL_ERROR_HANDLING_ENV, "2", 1);
  return {AFT_TORCH_NCCL_ERROR_HANDLING_ENV, "2", true};
}

}  // namespace aft::dist
