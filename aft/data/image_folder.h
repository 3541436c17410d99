// torchvision-style image folders: SPLIT_DIR/<class>/<image>. Class names are the sorted
// folder names; files with .jpg/.jpeg/.png extensions (any case) are images, others ignored.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "aft/data/file_dataset.h"

namespace aft::data {

// Sorted names of the class sub-folders of `dir` (hidden folders skipped); errors if none.
std::vector<std::string> list_class_folders(const std::string& dir);

// Images of `dir`/<class> for each class in `classes` (label = position in `classes`).
// A class folder missing from `dir` is allowed when allow_missing (a test split may lack a
// class); an existing class folder with no images is always an error.
std::shared_ptr<FileDataset> open_image_folder(const std::string& dir,
                                               const std::vector<std::string>& classes,
                                               bool allow_missing);

}  // namespace aft::data
