// The many-character source ("aft data chars"): an Omniglot-like dataset of printed
// characters of several scripts, rendered from every installed Debian font that covers each
// one, with rotation/scale/shift and stroke-width jitter, for pretraining stroke features.
// Georgian and Armenian are left out on purpose: they are a transfer target.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aft/data/generators.h"

namespace aft::data {

struct CharScript {
  std::string name;
  std::u32string chars;
  std::string packages;  // Debian packages whose fonts cover it
};

// latin (A-Z a-z), greek, cyrillic (capitals), hebrew, arabic (isolated forms), devanagari,
// thai, kana, hangul (260 syllables, evenly spaced), cjk (340 ideographs, evenly spaced):
// 1,011 characters, look-alikes across scripts left out.
const std::vector<CharScript>& char_scripts();
// Globs of the Debian font files used by default (fonts-dejavu-core/-extra, fonts-liberation,
// fonts-freefont-ttf, fonts-noto-core in 8 styles, fonts-noto-cjk, and for more CJK designs
// fonts-unfonts-core, fonts-ipafont-gothic/-mincho, fonts-wqy-zenhei/-microhei,
// fonts-arphic-ukai/-uming); missing ones are skipped.
const std::vector<std::string>& default_char_font_globs();

struct CharsOptions {
  std::string out;
  std::vector<std::string> scripts;  // empty: all of char_scripts()
  std::vector<std::string> fonts;    // files, folders or globs; empty: default_char_font_globs()
  int64_t size = 32;
  int64_t per_class = 48;            // training samples per character
  int64_t test_per_class = 12;       // test samples per character: fresh jitter, same fonts
  double jitter = 0.12;              // rotation +-rad, scale 1+-, shift +-jitter*size
  double stroke = 0.04;              // stroke width +-stroke em
  uint64_t seed = 0;
  bool overwrite = false;
};

struct CharsSummary {
  GeneratedSummary images;
  std::vector<std::pair<std::string, int64_t>> scripts;  // classes per script
  int64_t fonts = 0;                                     // fonts that contributed
};

CharsSummary write_chars(const CharsOptions& options);

}  // namespace aft::data
