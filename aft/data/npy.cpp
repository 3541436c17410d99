// .npy: magic "\x93NUMPY", version (2 bytes), header length (2 or 4 bytes, little-endian),
// a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, then the data.
#include "aft/data/npy.h"

#include <cstring>
#include <regex>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::data {
namespace {

std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::regex re("'" + key + "'\\s*:\\s*('[^']*'|\\([^)]*\\)|True|False)");
  std::smatch m;
  check(std::regex_search(header, m, re), path, ": .npy header has no '", key, "'");
  return m[1].str();
}

uint32_t little_endian(const std::string& bytes, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  check(fs::exists(path), path, " not found");
  const std::string bytes = fs::read_file(path);
  check(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, path, ": not a .npy file");
  const int major = static_cast<uint8_t>(bytes[6]);
  check(major >= 1 && major <= 3, path, ": unsupported .npy version ", major);
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t header_len = little_endian(bytes, 8, len_bytes);
  const size_t data_at = 8 + len_bytes + header_len;
  check(bytes.size() >= data_at, path, ": truncated .npy header");
  const std::string header = bytes.substr(8 + len_bytes, header_len);
  const std::string descr = dict_value(header, "descr", path);
  check(dict_value(header, "fortran_order", path) == "False", path, ": Fortran-order arrays are not supported");
  NpyArray a;
  const std::string shape = dict_value(header, "shape", path);
  int64_t count = 1;
  const std::regex digits("\\d+");
  for (std::sregex_iterator it(shape.begin(), shape.end(), digits), end; it != end; ++it) {
    a.shape.push_back(std::stoll(it->str()));
    count *= a.shape.back();
  }
  size_t item = 0;
  if (descr == "'<f8'") item = 8;
  else if (descr == "'<f4'") item = 4;
  else if (descr == "'|u1'") item = 1;
  else fail(path, ": unsupported .npy dtype ", descr, " (need <f8, <f4 or |u1)");
  check(bytes.size() - data_at == static_cast<size_t>(count) * item, path, ": data holds ", bytes.size() - data_at,
        " bytes, the header's shape ", shape, " needs ", count * static_cast<int64_t>(item));
  a.values.resize(static_cast<size_t>(count));
  const char* p = bytes.data() + data_at;
  // memcpy per element: the data offset need not be aligned for double.
  for (int64_t i = 0; i < count; ++i) {
    if (item == 8) {
      double v;
      std::memcpy(&v, p + i * 8, 8);
      a.values[i] = v;
    } else if (item == 4) {
      float v;
      std::memcpy(&v, p + i * 4, 4);
      a.values[i] = v;
    } else {
      a.values[i] = static_cast<uint8_t>(p[i]);
    }
  }
  return a;
}

}  // namespace aft::data
