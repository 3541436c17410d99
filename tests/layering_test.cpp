// The layer rule of docs/design.md, checked on the sources: a file in aft/<layer>/ may include only
// its own layer and the layers below it. A peer include (data <-> models) counts as upward:
// layers on one level stay independent of each other.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace stdfs = std::filesystem;

// Lower numbers lie below; each layer may include only strictly lower ones (and itself).
const std::map<std::string, int> kLevel = {{"core", 0},  {"data", 1},   {"models", 1},  {"dist", 1},
                                           {"report", 1}, {"train", 2}, {"search", 3}, {"methods", 4},
                                           {"run", 5}};

std::vector<std::string> upward_includes(const stdfs::path& aft_root) {
  std::vector<std::string> found;
  const std::regex include(R"re(^\s*#\s*include\s*"aft/([a-z_]+)/)re");
  for (const auto& entry : stdfs::recursive_directory_iterator(aft_root)) {
    if (!entry.is_regular_file()) continue;
    const auto ext = entry.path().extension();
    if (ext != ".h" && ext != ".cpp") continue;
    const std::string layer = entry.path().parent_path().filename().string();
    const auto own = kLevel.find(layer);
    if (own == kLevel.end()) {
      found.push_back(entry.path().string() + ": in no known layer");
      continue;
    }
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::smatch m;
      if (!std::regex_search(line, m, include)) continue;
      const std::string target = m[1];
      if (target == layer) continue;
      const auto to = kLevel.find(target);
      if (to == kLevel.end() || to->second >= own->second) {
        found.push_back(entry.path().string() + ":" + std::to_string(number) + ": " + layer + " includes " + target);
      }
    }
  }
  return found;
}

TEST(Layering, EveryIncludePointsDown) {
  const auto root = stdfs::path(AFT_SOURCE_DIR) / "aft";
  ASSERT_TRUE(stdfs::is_directory(root)) << root;
  const auto bad = upward_includes(root);
  std::string list;
  for (const auto& b : bad) list += "\n  " + b;
  EXPECT_TRUE(bad.empty()) << "includes that point upwards or sideways:" << list;
}

TEST(Layering, TheCheckCatchesAnUpwardInclude) {
  // A planted violation must be found, or the test above proves nothing.
  const auto root = stdfs::path(::testing::TempDir()) / "aft_layering" / "aft";
  stdfs::remove_all(root.parent_path());
  stdfs::create_directories(root / "train");
  stdfs::create_directories(root / "data");
  std::ofstream(root / "train" / "ok.h") << "#include \"aft/data/x.h\"\n#include \"aft/train/y.h\"\n";
  std::ofstream(root / "train" / "bad.h") << "#pragma once\n#include \"aft/methods/method.h\"\n";
  std::ofstream(root / "data" / "peer.cpp") << "#include \"aft/models/model.h\"\n";
  const auto bad = upward_includes(root);
  ASSERT_EQ(bad.size(), 2u);
  std::string all = bad[0] + bad[1];
  EXPECT_NE(all.find("train includes methods"), std::string::npos) << all;
  EXPECT_NE(all.find("data includes models"), std::string::npos) << all;
}

}  // namespace
