// Reader of python3-skimage's lfw_subset.npy: 200 grayscale 25x25 crops in [0, 1] from
// Labeled Faces in the Wild, the first 100 faces and the last 100 non-faces (skimage's
// own docs for data.lfw_subset say so).
#pragma once
#include <string>
#include <vector>

#include "aft/data/few_shot.h"

namespace aft::data {

constexpr const char* kLfwSubsetPath = "/usr/lib/python3/dist-packages/skimage/data/lfw_subset.npy";

// Classes "face" and "nonface" (the first and second half of the array), pixels round(v*255).
std::vector<SourceClass> read_lfw_subset(const std::string& npy_path);

}  // namespace aft::data
