#include "aft/core/fs.h"

#include <gtest/gtest.h>

#include "aft/core/error.h"

TEST(Fs, AtomicWriteReplacesContent) {
  const std::string path = ::testing::TempDir() + "/aft_fs_test.txt";
  aft::fs::write_file_atomic(path, "one");
  aft::fs::write_file_atomic(path, "two");
  EXPECT_EQ(aft::fs::read_file(path), "two");
}

TEST(Fs, MissingFileNamesPath) {
  try {
    aft::fs::read_file("/nonexistent/aft/file");
    FAIL();
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/aft/file"), std::string::npos);
  }
}
