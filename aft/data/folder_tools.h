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
// Checks OUT before a generator writes it: absent or empty, or (with overwrite) a folder aft wrote
// that does not hold `input`; throws one line otherwise.
void check_data_out(const std::string& out, bool overwrite, const std::string& input = "");
// Where a generator writes before renaming into place: OUT.tmp.PID, a name only this process
// uses, so clearing a leftover of it can never remove anyone else's folder.
std::string generator_tmp(const std::string& out);
// Writes the marker into a generated folder (before it is renamed into place); `details`
// (an object: options, class tables) is merged into it, the one file a generator adds.
void mark_data_dir(const std::string& dir, const std::string& command, const nlohmann::json& details = nullptr);

}  // namespace aft::data
