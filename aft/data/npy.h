// A minimal reader of NumPy's .npy files (format versions 1-3, C order, little-endian
// float64/float32/uint8), for the datasets Debian's Python packages ship as arrays.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace aft::data {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> values;  // row-major
};

NpyArray read_npy(const std::string& path);

}  // namespace aft::data
