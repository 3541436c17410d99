// The test binary's entry point. ctest runs every test as its own process, two at a time, and
// many tests write under ::testing::TempDir(): each process therefore gets a folder of its own
// (TEST_TMPDIR, which TempDir() returns) and removes it when it ends. A TEST_TMPDIR given from
// outside is used as it is and left alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  std::string made;
  if (std::getenv("TEST_TMPDIR") == nullptr) {
    char pattern[] = "/tmp/aft_tests.XXXXXX";
    if (::mkdtemp(pattern) != nullptr) {
      made = pattern;
      ::setenv("TEST_TMPDIR", pattern, 1);
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  if (!made.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(made, ignored);
  }
  return result;
}
