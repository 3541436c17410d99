// Printed characters with FreeType: each sample is one character of one font under a small
// random affine jitter (FT_Set_Transform), anti-aliased, centred on a square canvas. The
// train/test split is by font, so test accuracy measures generalisation to unseen typefaces.
#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/folder_tools.h"
#include "aft/data/generators.h"
#include "aft/data/png_write.h"
#include "aft/data/random.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

// RAII for the FreeType library and one face: FreeType handles are not thread-safe, so each
// call owns its own.
struct FontFace {
  FT_Library library = nullptr;
  FT_Face face = nullptr;
  explicit FontFace(const std::string& path) {
    check(FT_Init_FreeType(&library) == 0, "cannot initialise FreeType");
    if (FT_New_Face(library, path.c_str(), 0, &face) != 0) {
      FT_Done_FreeType(library);
      fail(path, ": cannot open font");
    }
  }
  ~FontFace() {
    FT_Done_Face(face);
    FT_Done_FreeType(library);
  }
  FontFace(const FontFace&) = delete;
  FontFace& operator=(const FontFace&) = delete;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::vector<uint8_t> render(FontFace& font, const std::string& path, char32_t c, int64_t size,
                            double jitter, uint64_t sample_seed) {
  std::mt19937_64 rng(sample_seed);
  auto sym = [&] { return 2.0 * uniform01(rng) - 1.0; };
  const double angle = jitter * sym();
  const double scale = 1.0 + jitter * sym();
  const double dx = jitter * size * sym(), dy = jitter * size * sym();
  check(FT_Get_Char_Index(font.face, c) != 0, path, ": font has no glyph for U+", std::hex,
        static_cast<uint32_t>(c));
  FT_Set_Pixel_Sizes(font.face, 0, static_cast<FT_UInt>(std::max<int64_t>(4, size * 3 / 4)));
  FT_Matrix m;  // 16.16 fixed point
  m.xx = static_cast<FT_Fixed>(std::cos(angle) * scale * 65536);
  m.xy = static_cast<FT_Fixed>(-std::sin(angle) * scale * 65536);
  m.yx = static_cast<FT_Fixed>(std::sin(angle) * scale * 65536);
  m.yy = static_cast<FT_Fixed>(std::cos(angle) * scale * 65536);
  FT_Set_Transform(font.face, &m, nullptr);
  check(FT_Load_Char(font.face, c, FT_LOAD_RENDER | FT_LOAD_NO_BITMAP) == 0, path,
        ": cannot render U+", std::hex, static_cast<uint32_t>(c));
  const FT_Bitmap& bm = font.face->glyph->bitmap;
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

}  // namespace

std::vector<std::string> auto_fonts() {
  std::vector<std::string> fonts;
  for (const char* dir : {"dejavu", "liberation", "freefont", "noto"}) {
    const stdfs::path p = stdfs::path("/usr/share/fonts/truetype") / dir;
    if (!stdfs::is_directory(p)) continue;
    for (const auto& e : stdfs::directory_iterator(p)) {
      if (e.path().extension() == ".ttf") fonts.push_back(e.path().string());
    }
  }
  std::sort(fonts.begin(), fonts.end());
  return fonts;
}

std::string glyph_class_name(char32_t c) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(c));
  std::string name = buf;
  if (c < 128 && std::isalnum(static_cast<int>(c))) name += "_" + std::string(1, static_cast<char>(c));
  return name;
}

std::vector<uint8_t> render_glyph(const std::string& font, char32_t c, int64_t size, double jitter,
                                  uint64_t sample_seed) {
  FontFace face(font);
  return render(face, font, c, size, jitter, sample_seed);
}

GeneratedSummary write_glyphs(const GlyphOptions& o) {
  check(!o.out.empty(), "--out is required");
  check(!o.chars.empty(), "--chars is empty");
  check(o.size >= 8 && o.size <= 512, "--size must be in [8, 512], got ", o.size);
  check(o.per_font >= 1, "--per-font must be >= 1");
  check(o.jitter >= 0 && o.jitter <= 0.5, "--jitter must be in [0, 0.5], got ", o.jitter);
  std::string chars;
  for (char ch : o.chars) {
    check(static_cast<unsigned char>(ch) < 128 && ch > ' ', "--chars: only printable ASCII is supported");
    check(chars.find(ch) == std::string::npos, "--chars: '", ch, "' is repeated");
    chars += ch;
  }
  std::vector<std::string> fonts = o.fonts.empty() ? auto_fonts() : o.fonts;
  std::sort(fonts.begin(), fonts.end());
  fonts.erase(std::unique(fonts.begin(), fonts.end()), fonts.end());
  check(o.test_fonts >= 1 && static_cast<int64_t>(fonts.size()) > o.test_fonts, "glyphs need more than --test-fonts ",
        o.test_fonts, " fonts, found ", fonts.size(),
        o.fonts.empty() ? " (install fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-noto-mono)" : "");
  // Held-out fonts: a seeded choice from the sorted list.
  std::vector<std::string> order = fonts;
  std::mt19937_64 pick(mix_seed(o.seed, 0xF0A7ull));
  shuffle(order, pick);
  GeneratedSummary summary;
  summary.test_sources.assign(order.begin(), order.begin() + o.test_fonts);
  summary.train_sources.assign(order.begin() + o.test_fonts, order.end());
  std::sort(summary.test_sources.begin(), summary.test_sources.end());
  std::sort(summary.train_sources.begin(), summary.train_sources.end());
  check_data_out(o.out, o.overwrite);
  const std::string tmp = generator_tmp(o.out);
  for (char ch : chars) summary.classes.push_back(glyph_class_name(static_cast<char32_t>(ch)));
  for (const std::string split : {"train", "test"}) {
    const auto& list = split == "train" ? summary.train_sources : summary.test_sources;
    for (const auto& cls : summary.classes) fs::create_directories(tmp + "/" + split + "/" + cls);
    for (const auto& font : list) {
      FontFace face(font);
      const std::string stem = stdfs::path(font).stem().string();
      for (size_t ci = 0; ci < chars.size(); ++ci) {
        for (int64_t k = 0; k < o.per_font; ++k) {
          const uint64_t seed = mix_seed(o.seed, fnv1a(stem), ci * 100003 + static_cast<uint64_t>(k));
          const auto pixels = render(face, font, static_cast<char32_t>(chars[ci]), o.size, o.jitter, seed);
          write_png(tmp + "/" + split + "/" + summary.classes[ci] + "/" + stem + "_" + std::to_string(k) + ".png",
                    pixels.data(), o.size, o.size, 1);
          (split == "train" ? summary.train : summary.test) += 1;
        }
      }
    }
  }
  mark_data_dir(tmp, "data glyphs");
  fs::replace_path(tmp, o.out);
  return summary;
}

}  // namespace aft::data
