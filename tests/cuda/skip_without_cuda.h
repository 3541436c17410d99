// SKIP_WITHOUT_CUDA(): the first line of every test in tests/cuda, so that the binary also runs,
// and says what it skipped, on a machine without a GPU.
#pragma once
#include <gtest/gtest.h>
#include <torch/cuda.h>

// GTEST_SKIP() returns from the test body, so this has to be a macro.
#define SKIP_WITHOUT_CUDA()                                                       \
  do {                                                                            \
    if (!torch::cuda::is_available()) {                                           \
      GTEST_SKIP() << "no CUDA device (torch::cuda::is_available() is false)";     \
    }                                                                             \
  } while (false)
