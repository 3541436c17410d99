// Writers of benchmark datasets as image folders (PNG): Fashion-MNIST from Debian's IDX files,
// and printed characters rendered with FreeType ("glyphs"), split into train/test by font.
// Both write into OUT.tmp and rename it to OUT at the end, so a half dataset never looks done.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

struct FashionMnistExportOptions {
  std::string out;
  std::string source_dir;            // empty: /usr/share/datasets/fashion-mnist
  std::vector<int64_t> classes;      // empty: all ten
  int64_t per_class = 0;             // training images per class (first N in file order); 0: all
  int64_t test_per_class = 0;        // test images per class; 0: all
  int64_t size = 32;                 // output side (28: no resize)
  bool overwrite = false;
};

struct GlyphOptions {
  std::string out;
  std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";  // one class per character (UTF-8)
  std::vector<std::string> fonts;    // font files, folders or globs; empty: auto_fonts()
  int64_t test_fonts = 0;            // fonts held out for the test split (seeded); 0: 4, at most half
  int64_t size = 32;
  int64_t per_font = 10;             // samples per (font, character)
  int64_t per_class = 0;             // training images per class, a seeded choice of the renders; 0: all
  int64_t test_per_class = 0;        // test images per class, likewise (independent of per_class); 0: all
  double jitter = 0.1;               // rotation +-jitter rad, scale 1+-jitter, shift +-jitter*size
  uint64_t seed = 0;
  bool overwrite = false;
};

struct GeneratedSummary {
  std::vector<std::string> classes;
  int64_t train = 0, test = 0;
  std::vector<std::string> train_sources, test_sources;  // fonts (glyphs)
};

GeneratedSummary export_fashion_mnist(const FashionMnistExportOptions& options);
GeneratedSummary write_glyphs(const GlyphOptions& options);

// The .ttf files of fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf and
// fonts-noto-mono under /usr/share/fonts/truetype, sorted by path.
std::vector<std::string> auto_fonts();
// --chars as code points: UTF-8, no spaces or control characters, no repeats.
std::u32string glyph_chars(const std::string& utf8);
// Filesystem-safe, case-distinct class name: "U+0041_A" for alphanumerics, "U+002F" otherwise.
std::string glyph_class_name(char32_t c);
// One jittered sample (grayscale, size*size, white on black); sample_seed picks the jitter.
std::vector<uint8_t> render_glyph(const std::string& font, char32_t c, int64_t size, double jitter,
                                  uint64_t sample_seed);

}  // namespace aft::data
