// The compatibility rule (aft/core/torch_compat.h): LibTorch's version is tested in that header
// only, so a new LibTorch means reading one file. aft/core/version.cpp may print the version.
#include "aft/core/torch_compat.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace stdfs = std::filesystem;

TEST(TorchCompat, VersionTestedOnlyInTheCompatHeader) {
  std::vector<std::string> found;
  const stdfs::path root(AFT_SOURCE_DIR);
  for (const char* dir : {"aft", "apps", "bench"}) {
    for (const auto& entry : stdfs::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      const auto ext = entry.path().extension();
      if (ext != ".h" && ext != ".cpp") continue;
      const auto rel = stdfs::relative(entry.path(), root).generic_string();
      if (rel == "aft/core/torch_compat.h" || rel == "aft/core/version.cpp") continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string s = text.str();
      for (const char* macro : {"TORCH_VERSION_MAJOR", "TORCH_VERSION_MINOR", "TORCH_VERSION_PATCH"}) {
        if (s.find(macro) != std::string::npos) found.push_back(rel + ": " + macro);
      }
    }
  }
  EXPECT_TRUE(found.empty()) << "LibTorch version tested outside aft/core/torch_compat.h: " << found.front();
}

TEST(TorchCompat, AtLeastOrdersVersions) {
  EXPECT_TRUE(AFT_TORCH_AT_LEAST(1, 0));
  EXPECT_TRUE(AFT_TORCH_AT_LEAST(TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR));
  EXPECT_FALSE(AFT_TORCH_AT_LEAST(TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR + 1));
  EXPECT_FALSE(AFT_TORCH_AT_LEAST(TORCH_VERSION_MAJOR + 1, 0));
  if (TORCH_VERSION_MINOR > 0) EXPECT_TRUE(AFT_TORCH_AT_LEAST(TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR - 1));
}

// The features the header names follow the version (each is a C++ fact of that LibTorch,
// compiled into aft: a wrong one fails to compile or link on that version).
TEST(TorchCompat, FeaturesFollowTheVersion) {
  EXPECT_EQ(AFT_TORCH_C10D_BACKEND, TORCH_VERSION_MAJOR >= 2);
  if (TORCH_VERSION_MAJOR == 1) {
    EXPECT_FALSE(AFT_TORCH_BATCHNORM_PRETTY_PRINT_INLINE);
    EXPECT_FALSE(AFT_TORCH_AUTOCAST_BY_DEVICE);
    EXPECT_STREQ(AFT_TORCH_NCCL_ERROR_HANDLING_ENV, "NCCL_ASYNC_ERROR_HANDLING");
  }
}

}  // namespace
