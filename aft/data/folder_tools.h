// Inspection and materialisation of data roots for `aft data info` and `aft data split`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "aft/core/output_dir.h"
#include "aft/data/splits.h"

namespace aft::data {

// Classes, images per split and class, and min/max image height/width (read from headers).
nlohmann::json data_info(const std::string& root);

// Writes OUT/train (train minus validation), OUT/val (the held-out part) and OUT/test as
// image folders of hard links (copies across filesystems) for an image-folder root. Note that
// aft reading OUT uses test/ as the test split and carves its own validation from train/.
void materialise_split(const std::string& root, const std::string& out, double val_fraction,
                       uint64_t seed, bool overwrite);

// Folders that `aft data` writes carry aft-data.json, so that --overwrite can tell them from a
// user's own data, which it never removes.
const OutputKind& data_dir_kind();
// Where a generator writes: OUT is checked (absent or empty, or with overwrite a folder aft wrote
// whose manifest lists everything in it, never one holding or inside `inputs`) and locked, the
// dataset is written into dir() (OUT.tmp.XXXXXX, private to this process) and install() swaps it
// in without clobbering anything that appeared at OUT meanwhile (aft/core/output_dir.h).
class DataBuild : public PrivateBuild {
 public:
  DataBuild(const std::string& out, bool overwrite, const std::vector<std::string>& inputs = {})
      : PrivateBuild(out, data_dir_kind(), overwrite, inputs) {}
};
// Writes the marker into a generated folder (before it is renamed into place); `details`
// (an object: options, class tables) is merged into it, the one file a generator adds.
void mark_data_dir(const std::string& dir, const std::string& command, const nlohmann::json& details = nullptr);

}  // namespace aft::data
