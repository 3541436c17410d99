// FreeType rendering shared by the glyph generators ("glyphs", "chars"): one font face per
// object (FreeType handles are not thread-safe), one jittered character per call, plus the
// helpers that turn --chars (UTF-8) and --fonts (files, folders, globs) into lists.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aft::data {

class FontFace {
 public:
  explicit FontFace(const std::string& path);
  ~FontFace();
  FontFace(const FontFace&) = delete;
  FontFace& operator=(const FontFace&) = delete;
  const std::string& path() const { return path_; }
  bool has_glyph(char32_t c) const;

 private:
  friend struct Renderer;
  std::string path_;
  void* library_ = nullptr;  // FT_Library, FT_Face: kept opaque so this header needs no FreeType
  void* face_ = nullptr;
};

struct RenderSpec {
  int64_t size = 32;    // square canvas side; the em is 3/4 of it
  double jitter = 0.1;  // rotation +-jitter rad, scale 1+-jitter, shift +-jitter*size
  double stroke = 0;    // stroke width change, +-stroke em (FT_Outline_Embolden); 0: none
  bool fit = false;     // shrink a glyph that overflows the canvas (tall scripts, CJK) instead of clipping it
};

// One sample, white on black, size*size bytes; sample_seed picks the jitter. Throws when the
// font lacks the character.
std::vector<uint8_t> render_char(FontFace& font, char32_t c, const RenderSpec& spec, uint64_t sample_seed);

// UTF-8 -> code points; throws naming the byte offset on malformed input.
std::u32string decode_utf8(const std::string& text);
std::string encode_utf8(char32_t c);

// Each spec is a font file, a folder (its .ttf/.otf/.ttc files, recursively) or a glob
// (`*`, `?`, `[...]`, `{a,b}`); the result is sorted and unique. A spec that names nothing is an error.
std::vector<std::string> expand_font_specs(const std::vector<std::string>& specs);
// --fonts as given on the command line: comma-separated, except inside a glob's {a,b}.
std::vector<std::string> split_font_specs(const std::string& text);

uint64_t fnv1a(const std::string& s);

}  // namespace aft::data
