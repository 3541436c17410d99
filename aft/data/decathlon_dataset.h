// Visual Decathlon COCO-style annotations: images[] {id, file_name}, annotations[]
// {image_id, category_id}, categories[] {id, name}. Labels are category ids in ascending
// order; file names are relative to an image root (the folder holding `data/`).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "aft/data/file_dataset.h"

namespace aft::data {

struct DecathlonCategories {
  std::vector<int64_t> ids;         // ascending; label = position
  std::vector<std::string> names;
};

// Reads the categories of an annotation file (sorted by id).
DecathlonCategories read_decathlon_categories(const std::string& json_path);

// Images and labels of `json_path`, mapped onto `categories` (from the training file): a
// category id not in it is an error, as is a file with no annotations (e.g. the stripped
// official test set: use the val annotations as the test split instead).
std::shared_ptr<FileDataset> open_decathlon(const std::string& json_path,
                                            const std::string& image_root,
                                            const DecathlonCategories& categories);

// Default image root: the parent of the annotation file's folder (annotations/ sits beside
// data/ in the Decathlon layout).
std::string default_decathlon_image_root(const std::string& json_path);

}  // namespace aft::data
