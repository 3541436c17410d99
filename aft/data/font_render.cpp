// FreeType glue: the affine jitter is FT_Set_Transform (applied while loading), the stroke
// change FT_Outline_Embolden on the loaded outline, then an anti-aliased render centred on
// the canvas.
#include "aft/data/font_render.h"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_OUTLINE_H
#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/data/random.h"

namespace aft::data {
namespace stdfs = std::filesystem;

FontFace::FontFace(const std::string& path) : path_(path) {
  FT_Library library = nullptr;
  check(FT_Init_FreeType(&library) == 0, "cannot initialise FreeType");
  FT_Face face = nullptr;
  if (FT_New_Face(library, path.c_str(), 0, &face) != 0) {
    FT_Done_FreeType(library);
    fail(path, ": cannot open font");
  }
  library_ = library;
  face_ = face;
}

FontFace::~FontFace() {
  FT_Done_Face(static_cast<FT_Face>(face_));
  FT_Done_FreeType(static_cast<FT_Library>(library_));
}

bool FontFace::has_glyph(char32_t c) const { return FT_Get_Char_Index(static_cast<FT_Face>(face_), c) != 0; }

struct Renderer {
  static FT_Face face(FontFace& f) { return static_cast<FT_Face>(f.face_); }
};

namespace {

// Loads and renders at `pixels` per em with the given transform; returns the glyph slot.
FT_GlyphSlot load(FT_Face face, const std::string& path, char32_t c, double pixels, FT_Matrix m, double stroke) {
  FT_Set_Pixel_Sizes(face, 0, static_cast<FT_UInt>(std::max(4.0, pixels)));
  FT_Set_Transform(face, &m, nullptr);
  if (stroke == 0) {
    check(FT_Load_Char(face, c, FT_LOAD_RENDER | FT_LOAD_NO_BITMAP) == 0, path, ": cannot render U+", std::hex,
          static_cast<uint32_t>(c));
    return face->glyph;
  }
  check(FT_Load_Char(face, c, FT_LOAD_NO_BITMAP) == 0, path, ": cannot load U+", std::hex, static_cast<uint32_t>(c));
  if (face->glyph->format == FT_GLYPH_FORMAT_OUTLINE) {
    FT_Outline_Embolden(&face->glyph->outline, static_cast<FT_Pos>(stroke * pixels * 64));
  }
  check(FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL) == 0, path, ": cannot render U+", std::hex,
        static_cast<uint32_t>(c));
  return face->glyph;
}

}  // namespace

std::vector<uint8_t> render_char(FontFace& font, char32_t c, const RenderSpec& spec, uint64_t sample_seed) {
  const int64_t size = spec.size;
  std::mt19937_64 rng(sample_seed);
  auto sym = [&] { return 2.0 * uniform01(rng) - 1.0; };
  const double angle = spec.jitter * sym();
  const double scale = 1.0 + spec.jitter * sym();
  const double dx = spec.jitter * size * sym(), dy = spec.jitter * size * sym();
  const double stroke = spec.stroke > 0 ? spec.stroke * sym() : 0.0;
  check(font.has_glyph(c), font.path(), ": font has no glyph for U+", std::hex, static_cast<uint32_t>(c));
  FT_Face face = Renderer::face(font);
  FT_Matrix m;  // 16.16 fixed point
  m.xx = static_cast<FT_Fixed>(std::cos(angle) * scale * 65536);
  m.xy = static_cast<FT_Fixed>(-std::sin(angle) * scale * 65536);
  m.yx = static_cast<FT_Fixed>(std::sin(angle) * scale * 65536);
  m.yy = static_cast<FT_Fixed>(std::cos(angle) * scale * 65536);
  // Integer em as the glyph generator always used, so its images stay as they were.
  double pixels = static_cast<double>(std::max<int64_t>(4, size * 3 / 4));
  FT_GlyphSlot slot = load(face, font.path(), c, pixels, m, stroke);
  const double limit = static_cast<double>(size) - 2;
  const double extent = std::max(slot->bitmap.width, slot->bitmap.rows);
  if (spec.fit && extent > limit) {
    pixels = std::floor(pixels * limit / extent);
    slot = load(face, font.path(), c, pixels, m, stroke);
  }
  const FT_Bitmap& bm = slot->bitmap;
  std::vector<uint8_t> canvas(static_cast<size_t>(size * size), 0);
  const auto x0 = static_cast<int64_t>(std::lround((size - static_cast<double>(bm.width)) / 2 + dx));
  const auto y0 = static_cast<int64_t>(std::lround((size - static_cast<double>(bm.rows)) / 2 + dy));
  for (int64_t y = 0; y < bm.rows; ++y) {
    for (int64_t x = 0; x < bm.width; ++x) {
      const int64_t cy = y0 + y, cx = x0 + x;
      if (cy < 0 || cx < 0 || cy >= size || cx >= size) continue;
      uint8_t& dst = canvas[cy * size + cx];
      dst = std::max(dst, bm.buffer[y * bm.pitch + x]);
    }
  }
  return canvas;
}

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    check(n > 0 && i + n <= text.size(), "invalid UTF-8 at byte ", i);
    char32_t c = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto cont = static_cast<unsigned char>(text[i + k]);
      check((cont >> 6) == 0x2, "invalid UTF-8 at byte ", i + k);
      c = (c << 6) | (cont & 0x3F);
    }
    check(c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF), "invalid code point at byte ", i);
    out.push_back(c);
    i += n;
  }
  return out;
}

std::string encode_utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

std::vector<std::string> expand_font_specs(const std::vector<std::string>& specs) {
  auto is_font = [](const stdfs::path& p) {
    const std::string ext = p.extension().string();
    return ext == ".ttf" || ext == ".otf" || ext == ".ttc" || ext == ".TTF" || ext == ".OTF";
  };
  std::vector<std::string> fonts;
  for (const auto& spec : specs) {
    const size_t before = fonts.size();
    if (stdfs::is_directory(spec)) {
      for (const auto& e : stdfs::recursive_directory_iterator(spec)) {
        if (e.is_regular_file() && is_font(e.path())) fonts.push_back(e.path().string());
      }
    } else if (spec.find_first_of("*?[{") != std::string::npos) {
      glob_t g{};
      if (::glob(spec.c_str(), GLOB_BRACE, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) fonts.emplace_back(g.gl_pathv[i]);
      }
      globfree(&g);
    } else {
      check(stdfs::is_regular_file(spec), "--fonts: ", spec, " is not a font file, folder or glob");
      fonts.push_back(spec);
    }
    check(fonts.size() > before, "--fonts: ", spec, " matches no font file");
  }
  std::sort(fonts.begin(), fonts.end());
  fonts.erase(std::unique(fonts.begin(), fonts.end()), fonts.end());
  return fonts;
}

std::vector<std::string> split_font_specs(const std::string& text) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (char c : text) {
    depth += c == '{' ? 1 : c == '}' ? -1 : 0;
    if (c == ',' && depth == 0) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace aft::data
