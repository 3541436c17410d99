// Keeps freed memory inside the process instead of handing it back to the kernel after every
// training step. LibTorch's CPU allocator takes every tensor from malloc; by default glibc
// serves large blocks with mmap and trims the top of the heap on free, so each step's
// activations arrive as fresh pages that the kernel must fault in and zero (docs/benchmarks.md:
// about half of a small CPU training step). PyTorch's GPU caching allocator avoids the same
// cost on CUDA.
#pragma once
#include <string>

namespace aft {

// Stops glibc from serving blocks with mmap and raises its trim threshold (malloc keeps what
// it frees, up to the peak a step needs). Does nothing when the user set glibc's own settings
// (MALLOC_MMAP_THRESHOLD_, MALLOC_MMAP_MAX_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_,
// GLIBC_TUNABLES) or AFT_MALLOC=default,
// or on a C library other than glibc. Returns what it did, for --version and logs; throws
// aft::Error for an AFT_MALLOC value other than keep or default.
std::string keep_freed_memory();

}  // namespace aft
