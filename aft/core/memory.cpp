#include "aft/core/memory.h"

#include <cstdlib>
#include <cstring>

#include "aft/core/error.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace aft {

std::string keep_freed_memory() {
#if defined(__GLIBC__)
  const char* choice = std::getenv("AFT_MALLOC");
  if (choice != nullptr && std::strcmp(choice, "default") == 0) return "glibc malloc defaults (AFT_MALLOC=default)";
  check(choice == nullptr || *choice == '\0' || std::strcmp(choice, "keep") == 0, "AFT_MALLOC=", choice,
        ": expected keep (the default) or default (glibc's own behaviour)");
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name) != nullptr) return std::string("glibc malloc as the environment sets it (") + name + ")";
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) {
    return "glibc malloc as the environment sets it (GLIBC_TUNABLES)";
  }
  // Every block comes from the heap and is reused: none is a private mapping that the kernel
  // hands out as fresh pages to fault in and zero. The threshold alone tops out at 32 MiB on
  // 64-bit, and a 224-pixel batch's activations are larger (M_MMAP_MAX 0: 10-19% faster
  // ResNet-18 training at 224 px, docs/benchmarks.md). The threshold still matters where mmap
  // stays in use (a thread arena that cannot grow falls back to the main heap, not to mmap).
  // The heap top is trimmed only past 1 GiB free, and grows 64 MiB at a time.
  const bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_MMAP_MAX, 0) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && mallopt(M_TOP_PAD, 64 << 20) == 1;
  return ok ? "glibc malloc keeps freed memory (no mmap blocks, trim threshold 1 GiB)"
            : "glibc malloc defaults (mallopt refused)";
#else
  return "system malloc defaults";
#endif
}

}  // namespace aft
