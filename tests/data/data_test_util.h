// Helpers for the data tests: temp folders, running /usr/bin/python3 (Debian's, which has
// PIL and torchvision) to produce reference values, and small PNG image folders.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "aft/core/fs.h"
#include "aft/data/png_write.h"

namespace aft::data::testing {

inline std::string temp_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/aft_data_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline bool have_python_pil() {
  return std::system("/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1") == 0;
}

inline bool have_torchvision() {
  return std::system("/usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1") == 0;
}

// Runs `code` with /usr/bin/python3 in `dir`; returns true on exit status 0.
inline bool run_python(const std::string& dir, const std::string& code) {
  const std::string script = dir + "/script.py";
  std::ofstream(script) << code;
  return std::system(("cd '" + dir + "' && /usr/bin/python3 '" + script + "'").c_str()) == 0;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string s = aft::fs::read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

// A flat-colour PNG whose colour encodes (class, index), so tests can tell images apart.
inline void write_test_png(const std::string& path, int size, uint8_t value) {
  std::vector<uint8_t> pixels(static_cast<size_t>(size * size * 3));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(value + i % 7);
  aft::data::write_png(path, pixels.data(), size, size, 3);
}

// ROOT/{train,test}/<class>/<i>.png with the given counts per class.
inline void make_folder(const std::string& root, const std::vector<std::string>& classes, int train_per_class,
                        int test_per_class, const std::string& test_name = "test") {
  for (size_t c = 0; c < classes.size(); ++c) {
    for (const auto& [split, n] : {std::make_pair(std::string("train"), train_per_class),
                                   std::make_pair(test_name, test_per_class)}) {
      const std::string dir = root + "/" + split + "/" + classes[c];
      std::filesystem::create_directories(dir);
      for (int i = 0; i < n; ++i) write_test_png(dir + "/" + std::to_string(i) + ".png", 8, uint8_t(c * 40 + i));
    }
  }
}

}  // namespace aft::data::testing
