// Writes 8-bit PNG files (gray or RGB) with libpng, for the dataset generators
// (fashion-mnist export, glyphs). Generators write into DIR.tmp and rename the whole folder,
// so single files are written plainly (an fsync per file would dominate the run time).
#pragma once
#include <cstdint>
#include <string>

namespace aft::data {

// channels: 1 (gray) or 3 (RGB); pixels row-major, height*width*channels bytes.
std::string encode_png(const uint8_t* pixels, int64_t height, int64_t width, int channels);
void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int channels);

}  // namespace aft::data
