#include "aft/dist/nccl_env.h"

#include <gtest/gtest.h>
#include <torch/version.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace {

// Saves and restores both names of the variable around a test.
class NcclEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      const char* v = std::getenv(kNames[i]);
      if (v != nullptr) saved_[i] = v;
      unsetenv(kNames[i]);
    }
  }
  void TearDown() override {
    for (int i = 0; i < 2; ++i) {
      if (saved_[i]) setenv(kNames[i], saved_[i]->c_str(), 1);
      else unsetenv(kNames[i]);
    }
  }
  static constexpr const char* kNames[2] = {"TORCH_NCCL_ASYNC_ERROR_HANDLING", "NCCL_ASYNC_ERROR_HANDLING"};
  std::optional<std::string> saved_[2];
};

// The name LibTorch reads: renamed in 2.2 (the 2.x headers list TORCH_NCCL_ASYNC_ERROR_HANDLING
// first), the old one before.
std::string expected_name() {
  const bool renamed = TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2);
  return renamed ? "TORCH_NCCL_ASYNC_ERROR_HANDLING" : "NCCL_ASYNC_ERROR_HANDLING";
}

TEST_F(NcclEnv, UnsetBecomesTheNonAbortingMode) {
  const auto h = aft::dist::default_nccl_error_handling();
  EXPECT_EQ(h.variable, expected_name());
  EXPECT_EQ(h.value, "2");
  EXPECT_TRUE(h.set_by_aft);
  ASSERT_NE(std::getenv(expected_name().c_str()), nullptr);
  EXPECT_STREQ(std::getenv(expected_name().c_str()), "2");
  // 1 (tear the process down) is what aft used to set: it must not come back.
  EXPECT_STRNE(std::getenv(expected_name().c_str()), "1");
}

TEST_F(NcclEnv, UsersCurrentNameIsKept) {
  setenv(expected_name().c_str(), "1", 1);
  const auto h = aft::dist::default_nccl_error_handling();
  EXPECT_EQ(h.value, "1");
  EXPECT_FALSE(h.set_by_aft);
  EXPECT_STREQ(std::getenv(expected_name().c_str()), "1");
}

TEST_F(NcclEnv, UsersOldNameIsKept) {
  setenv("NCCL_ASYNC_ERROR_HANDLING", "0", 1);
  const auto h = aft::dist::default_nccl_error_handling();
  EXPECT_EQ(h.variable, "NCCL_ASYNC_ERROR_HANDLING");
  EXPECT_EQ(h.value, "0");
  EXPECT_FALSE(h.set_by_aft);
  if (expected_name() != "NCCL_ASYNC_ERROR_HANDLING") {
    // Setting the new name too would override the user's choice (LibTorch reads it first).
    EXPECT_EQ(std::getenv(expected_name().c_str()), nullptr);
  }
}

}  // namespace
