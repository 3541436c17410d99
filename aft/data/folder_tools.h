// Inspection and materialisation of data roots for `aft data info` and `aft data split`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "aft/data/splits.h"

namespace aft::data {

// Classes, images per split and class, and min/max image height/width (read from headers).
nlohmann::json data_info(const std::string& root);

// Writes OUT/train (train minus validation), OUT/val (the held-out part) and OUT/test as
// image folders of hard links (copies across filesystems) for an image-folder root. Note that
// aft reading OUT uses test/ as the test split and carves its own validation from train/.
void materialise_split(const std::string& root, const std::string& out, double val_fraction,
                       uint64_t seed, bool overwrite);

}  // namespace aft::data
