// Decathlon annotation parsing with nlohmann::json; errors name the file and the key.
#include "aft/data/decathlon_dataset.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::data {
namespace {

const nlohmann::json& array_field(const nlohmann::json& doc, const char* key, const std::string& path) {
  check(doc.is_object() && doc.contains(key) && doc[key].is_array(), path, ": missing array '", key,
        "' (expected COCO-style Decathlon annotations)");
  return doc[key];
}

}  // namespace

DecathlonCategories read_decathlon_categories(const std::string& json_path) {
  const nlohmann::json doc = fs::read_json(json_path);
  std::vector<std::pair<int64_t, std::string>> cats;
  try {
    for (const auto& c : array_field(doc, "categories", json_path)) {
      cats.emplace_back(c.at("id").get<int64_t>(), c.at("name").get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    fail(json_path, ": bad entry in 'categories' (", e.what(), ")");
  }
  check(!cats.empty(), json_path, ": 'categories' is empty");
  std::sort(cats.begin(), cats.end());
  DecathlonCategories out;
  for (const auto& [id, name] : cats) {
    check(out.ids.empty() || out.ids.back() != id, json_path, ": duplicate category id ", id);
    out.ids.push_back(id);
    out.names.push_back(name);
  }
  return out;
}

std::shared_ptr<FileDataset> open_decathlon(const std::string& json_path,
                                            const std::string& image_root,
                                            const DecathlonCategories& categories) {
  const nlohmann::json doc = fs::read_json(json_path);
  std::map<int64_t, std::string> file_of;
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  try {
    for (const auto& im : array_field(doc, "images", json_path)) {
      file_of[im.at("id").get<int64_t>()] = im.at("file_name").get<std::string>();
    }
    const auto& annotations = array_field(doc, "annotations", json_path);
    check(!annotations.empty(), json_path,
          ": no annotations (the official Decathlon test set is stripped; use the val file)");
    for (const auto& a : annotations) {
      const int64_t image_id = a.at("image_id").get<int64_t>();
      const int64_t category = a.at("category_id").get<int64_t>();
      const auto file = file_of.find(image_id);
      check(file != file_of.end(), json_path, ": annotation for unknown image id ", image_id);
      const auto it = std::lower_bound(categories.ids.begin(), categories.ids.end(), category);
      check(it != categories.ids.end() && *it == category, json_path, ": category_id ", category,
            " is not a training category");
      files.push_back((std::filesystem::path(image_root) / file->second).string());
      labels.push_back(it - categories.ids.begin());
    }
  } catch (const nlohmann::json::exception& e) {
    fail(json_path, ": bad entry (", e.what(), ")");
  }
  return std::make_shared<FileDataset>(categories.names, std::move(files), std::move(labels));
}

std::string default_decathlon_image_root(const std::string& json_path) {
  const auto dir = std::filesystem::absolute(json_path).parent_path();
  return dir.parent_path().string();
}

}  // namespace aft::data
