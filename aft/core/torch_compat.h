// Every difference between the LibTorch versions aft builds against, in one place
// (docs/build.md lists the versions tested: Debian 12's 1.13, Debian 13's 2.6, PyPI's 2.x).
// Code elsewhere tests these macros, never TORCH_VERSION_* itself, so that a new LibTorch
// means reading and changing this file only. Small on purpose: it includes only
// <torch/version.h> (the wrappers that need more are in the .cpp that uses them, keyed on the
// macros here).
#pragma once
#include <torch/version.h>

// True when the LibTorch compiled against is MAJOR.MINOR or newer.
#define AFT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// BatchNormImplBase<D, Derived>::pretty_print: 1.13 and 2.0 define it in libtorch's own
// batchnorm.cpp without exporting an instantiation a derived class can link to (a class deriving
// from torch::nn::BatchNorm2dImpl then needs a definition of its own: aft/models/batch_norm.cpp);
// later versions define it inline in the header, where defining it again is a redefinition.
// Checked: 1.13 (Debian 12) out of line; 2.6 (Debian 13) and PyPI's current 2.x inline. The
// move came with the template code moved to the header after 2.0; 2.1 is where it is assumed
// here (a wrong guess shows at once: "redefinition" on compiling, or an undefined pretty_print
// on linking).
#define AFT_TORCH_BATCHNORM_PRETTY_PRINT_INLINE AFT_TORCH_AT_LEAST(2, 1)

// c10d: 2.0 split the collectives out of c10d::ProcessGroup into c10d::Backend, from which
// ProcessGroupGloo/NCCL derive; in 1.13 they derive from ProcessGroup itself.
#define AFT_TORCH_C10D_BACKEND AFT_TORCH_AT_LEAST(2, 0)

// TCPStore: 2.4 defaults TCPStoreOptions::useLibUV to true (the field exists from before),
// and a LibTorch built without libuv (Debian 13's 2.6) then refuses to form the store ("use_libuv
// was requested but PyTorch was build without libuv support"). aft asks for the classic backend
// on every version, the one 1.13 has: it serves aft's few keys as well.
#define AFT_TORCH_TCPSTORE_HAS_LIBUV_OPTION AFT_TORCH_AT_LEAST(2, 4)

// Autocast: 2.4 takes the device type (set_autocast_dtype(kCUDA, ..),
// set_autocast_enabled(kCUDA, ..)); before it, set_autocast_gpu_dtype and set_enabled.
#define AFT_TORCH_AUTOCAST_BY_DEVICE AFT_TORCH_AT_LEAST(2, 4)

// NCCL's asynchronous error handling: 2.2 renamed NCCL_ASYNC_ERROR_HANDLING to
// TORCH_NCCL_ASYNC_ERROR_HANDLING (the old name is still read, with a deprecation warning).
// Its modes (1.13 and 2.x alike): 1 tears the process down on a failed or timed-out collective;
// 2 only aborts the communicator, so the failure comes back from the collective as an exception
// that aft reports as an error line (aft/dist/process_group.cpp sets 2 unless the user set one).
#if AFT_TORCH_AT_LEAST(2, 2)
#define AFT_TORCH_NCCL_ERROR_HANDLING_ENV "TORCH_NCCL_ASYNC_ERROR_HANDLING"
#else
#define AFT_TORCH_NCCL_ERROR_HANDLING_ENV "NCCL_ASYNC_ERROR_HANDLING"
#endif

// Fused attention: torch::scaled_dot_product_attention (flash / memory-efficient kernels on
// CUDA, a fused CPU kernel) arrived in 2.0; 1.13 has only the unfused matmul-softmax-matmul,
// which aft/models/vit.cpp then spells out. Both scale by 1/sqrt(head width).
#define AFT_TORCH_HAS_FUSED_ATTENTION AFT_TORCH_AT_LEAST(2, 0)

// Autograd nodes (torch::autograd::Node) are held by std::shared_ptr up to 2.6 and by
// c10::intrusive_ptr in PyPI's 2.15 (the version in between is unchecked). No macro: code that
// keeps one names LibTorch's own type with decltype (aft/dist/grad_sync.cpp).

// The lowest LibTorch that needs C++20 of its users (PyPI's wheels from 2.12 on; see
// CMakeLists.txt, which picks the standard); aft itself compiles as C++17 and as C++20.
#define AFT_TORCH_NEEDS_CXX20 AFT_TORCH_AT_LEAST(2, 12)
