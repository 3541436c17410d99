// Image-folder listing. Files are sorted by name inside each class so indices, and therefore
// seeded splits, are the same on every filesystem.
#include "aft/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "aft/core/error.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

bool is_image_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || name[0] == '.') return false;
  std::string ext = name.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "jpg" || ext == "jpeg" || ext == "jpe" || ext == "png";
}

}  // namespace

std::vector<std::string> list_class_folders(const std::string& dir) {
  check(stdfs::is_directory(dir), dir, ": not a directory");
  std::vector<std::string> classes;
  for (const auto& entry : stdfs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && !name.empty() && name[0] != '.') classes.push_back(name);
  }
  check(!classes.empty(), dir, ": no class folders (expected ", dir, "/<class>/<image>)");
  std::sort(classes.begin(), classes.end());
  return classes;
}

std::shared_ptr<FileDataset> open_image_folder(const std::string& dir,
                                               const std::vector<std::string>& classes,
                                               bool allow_missing) {
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  for (size_t c = 0; c < classes.size(); ++c) {
    const stdfs::path class_dir = stdfs::path(dir) / classes[c];
    if (!stdfs::is_directory(class_dir)) {
      check(allow_missing, class_dir.string(), ": class folder missing");
      continue;
    }
    std::vector<std::string> names;
    for (const auto& entry : stdfs::directory_iterator(class_dir)) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_directory() && is_image_name(name)) names.push_back(name);
    }
    check(!names.empty(), class_dir.string(), ": empty class folder (no .jpg/.jpeg/.png files)");
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      files.push_back((class_dir / name).string());
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  check(!files.empty(), dir, ": split has no images");
  return std::make_shared<FileDataset>(classes, std::move(files), std::move(labels));
}

}  // namespace aft::data
