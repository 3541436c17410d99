// data info / data split helpers.
#include "aft/data/folder_tools.h"

#include <algorithm>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/version.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

nlohmann::json split_info(const Dataset& d, const std::vector<size_t>& indices) {
  std::vector<int64_t> counts(d.classes().size(), 0);
  int64_t min_h = INT64_MAX, max_h = 0, min_w = INT64_MAX, max_w = 0;
  for (size_t i : indices) {
    ++counts[d.label(i)];
    const auto [h, w] = d.image_size(i);
    min_h = std::min(min_h, h);
    max_h = std::max(max_h, h);
    min_w = std::min(min_w, w);
    max_w = std::max(max_w, w);
  }
  nlohmann::json j;
  j["images"] = indices.size();
  j["per_class"] = counts;
  if (!indices.empty()) {
    j["height"] = {{"min", min_h}, {"max", max_h}};
    j["width"] = {{"min", min_w}, {"max", max_w}};
  }
  return j;
}

void link_or_copy(const std::string& from, const std::string& to) {
  std::error_code ec;
  stdfs::create_hard_link(from, to, ec);
  if (ec) {
    stdfs::copy_file(from, to, stdfs::copy_options::overwrite_existing, ec);
    check(!ec, "cannot copy ", from, " to ", to, ": ", ec.message());
  }
}

}  // namespace

nlohmann::json data_info(const std::string& root) {
  DataOptions options;
  options.root = root;
  options.val_fraction = 0;
  options.cache = false;
  const Splits s = open_splits(options);
  nlohmann::json j;
  j["root"] = root;
  j["classes"] = s.classes;
  j["train"] = split_info(*s.train, s.train_indices);
  j["test"] = split_info(*s.test, s.test_indices);
  return j;
}

const OutputKind& data_dir_kind() {
  static const OutputKind kind{"dataset folder", "aft-data.json"};
  return kind;
}

void mark_data_dir(const std::string& dir, const std::string& command, const nlohmann::json& details) {
  nlohmann::json marker = {{"written_by", "aft " + command}, {"aft_version", version()}};
  if (details.is_object()) marker.update(details);
  fs::write_json_atomic(dir + "/aft-data.json", marker);
}

void materialise_split(const std::string& root, const std::string& out, double val_fraction,
                       uint64_t seed, bool overwrite) {
  check(stdfs::is_directory(root), "data split needs an image-folder root, got ", root);
  DataBuild build(out, overwrite, {root});
  const std::string& tmp = build.dir();
  DataOptions options;
  options.root = root;
  options.val_fraction = val_fraction;
  options.seed = seed;
  options.cache = false;
  const Splits s = open_splits(options);
  auto write = [&](const Dataset& d, const std::vector<size_t>& indices, const std::string& split) {
    for (size_t i : indices) {
      const stdfs::path src = d.describe(i);
      const stdfs::path dir = stdfs::path(tmp) / split / s.classes[d.label(i)];
      fs::create_directories(dir.string());
      link_or_copy(src.string(), (dir / src.filename()).string());
    }
  };
  write(*s.train, s.train_indices, "train");
  write(*s.train, s.val_indices, "val");
  write(*s.test, s.test_indices, "test");
  mark_data_dir(tmp, "data split");
  build.install();
}

}  // namespace aft::data
