// Printed characters with FreeType: each sample is one character of one font under a small
// random affine jitter, anti-aliased, centred on a square canvas. The train/test split is by
// font, so test accuracy measures generalisation to unseen typefaces. A font that lacks a
// character contributes no samples of it (script fonts rarely cover Latin, and vice versa).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/folder_tools.h"
#include "aft/data/font_render.h"
#include "aft/data/generators.h"
#include "aft/data/png_write.h"
#include "aft/data/random.h"

namespace aft::data {
namespace stdfs = std::filesystem;

std::vector<std::string> auto_fonts() {
  std::vector<std::string> fonts;
  for (const char* dir : {"dejavu", "liberation", "freefont", "noto"}) {
    const stdfs::path p = stdfs::path("/usr/share/fonts/truetype") / dir;
    if (!stdfs::is_directory(p)) continue;
    for (const auto& e : stdfs::directory_iterator(p)) {
      // Only Noto Mono from the noto folder: fonts-noto-core shares it, with ~1,800 more fonts.
      const std::string name = e.path().filename().string();
      if (e.path().extension() != ".ttf" || (std::string(dir) == "noto" && name.rfind("NotoMono", 0) != 0)) continue;
      fonts.push_back(e.path().string());
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
  RenderSpec spec;
  spec.size = size;
  spec.jitter = jitter;
  return render_char(face, c, spec, sample_seed);
}

GeneratedSummary write_glyphs(const GlyphOptions& o) {
  check(!o.out.empty(), "--out is required");
  check(o.size >= 8 && o.size <= 512, "--size must be in [8, 512], got ", o.size);
  check(o.per_font >= 1, "--per-font must be >= 1");
  check(o.jitter >= 0 && o.jitter <= 0.5, "--jitter must be in [0, 0.5], got ", o.jitter);
  const std::u32string chars = glyph_chars(o.chars);
  std::vector<std::string> fonts = o.fonts.empty() ? auto_fonts() : expand_font_specs(o.fonts);
  std::sort(fonts.begin(), fonts.end());
  fonts.erase(std::unique(fonts.begin(), fonts.end()), fonts.end());
  const int64_t n_fonts = static_cast<int64_t>(fonts.size());
  const int64_t test_fonts = o.test_fonts > 0 ? o.test_fonts : std::max<int64_t>(1, std::min<int64_t>(4, n_fonts / 2));
  check(n_fonts > test_fonts, "glyphs need more than --test-fonts ", test_fonts, " fonts, found ", n_fonts,
        o.fonts.empty() ? " (install fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-noto-mono)" : "");
  // Held-out fonts: a seeded choice from the sorted list.
  std::vector<std::string> order = fonts;
  std::mt19937_64 pick(mix_seed(o.seed, 0xF0A7ull));
  shuffle(order, pick);
  GeneratedSummary summary;
  summary.test_sources.assign(order.begin(), order.begin() + test_fonts);
  summary.train_sources.assign(order.begin() + test_fonts, order.end());
  std::sort(summary.test_sources.begin(), summary.test_sources.end());
  std::sort(summary.train_sources.begin(), summary.train_sources.end());
  // Coverage first: every character needs a font on both sides, or the class is untestable.
  // Fonts are opened one at a time (a folder of fonts can exceed the open-file limit).
  auto coverage = [&](const std::vector<std::string>& list) {
    std::vector<std::vector<bool>> has;
    for (const auto& f : list) {
      const FontFace face(f);
      has.emplace_back();
      for (char32_t c : chars) has.back().push_back(face.has_glyph(c));
    }
    return has;
  };
  const auto train_has = coverage(summary.train_sources), test_has = coverage(summary.test_sources);
  auto any = [](const std::vector<std::vector<bool>>& has, size_t ci) {
    return std::any_of(has.begin(), has.end(), [&](const auto& row) { return row[ci]; });
  };
  for (size_t ci = 0; ci < chars.size(); ++ci) {
    const char32_t c = chars[ci];
    const bool train = any(train_has, ci), test = any(test_has, ci);
    check(train || test, "--chars: no font has U+", std::hex, std::uppercase, static_cast<uint32_t>(c), " (",
          encode_utf8(c), "); add a font that covers it to --fonts");
    check(train && test, "--chars: U+", std::hex, std::uppercase, static_cast<uint32_t>(c), " (", encode_utf8(c),
          ") is only in the ", train ? "training" : "test", " fonts; change --seed or --test-fonts, or add fonts");
  }
  // Few-shot sizes: a seeded choice among a class's renders (fonts x --per-font) of each split,
  // made before anything is written so a too-large request fails cleanly.
  auto choose = [&](const std::vector<std::vector<bool>>& has, int64_t limit, uint64_t tag, const char* flag) {
    std::vector<std::vector<char>> keep(has.size(), std::vector<char>(chars.size() * o.per_font, limit == 0));
    if (limit == 0) return keep;
    for (size_t ci = 0; ci < chars.size(); ++ci) {
      std::vector<std::pair<size_t, int64_t>> renders;
      for (size_t fi = 0; fi < has.size(); ++fi) {
        for (int64_t k = 0; has[fi][ci] && k < o.per_font; ++k) renders.emplace_back(fi, k);
      }
      check(static_cast<int64_t>(renders.size()) >= limit, flag, " ", limit, ": ", glyph_class_name(chars[ci]), " has ",
            renders.size(), " renders on that side (fonts x --per-font); raise --per-font");
      std::mt19937_64 rng(mix_seed(o.seed, tag, ci));
      shuffle(renders, rng);
      for (int64_t i = 0; i < limit; ++i) keep[renders[i].first][ci * o.per_font + renders[i].second] = 1;
    }
    return keep;
  };
  check(o.per_class >= 0 && o.test_per_class >= 0, "--per-class and --test-per-class must be >= 0");
  const auto train_keep = choose(train_has, o.per_class, 0x7EA1ull, "--per-class");
  const auto test_keep = choose(test_has, o.test_per_class, 0x7E57ull, "--test-per-class");
  DataBuild build(o.out, o.overwrite);
  const std::string& tmp = build.dir();
  for (char32_t c : chars) summary.classes.push_back(glyph_class_name(c));
  RenderSpec spec;
  spec.size = o.size;
  spec.jitter = o.jitter;
  for (const std::string split : {"train", "test"}) {
    const auto& list = split == "train" ? summary.train_sources : summary.test_sources;
    const auto& has = split == "train" ? train_has : test_has;
    const auto& keep = split == "train" ? train_keep : test_keep;
    for (const auto& cls : summary.classes) fs::create_directories(tmp + "/" + split + "/" + cls);
    for (size_t fi = 0; fi < list.size(); ++fi) {
      FontFace face(list[fi]);
      const std::string stem = stdfs::path(list[fi]).stem().string();
      for (size_t ci = 0; ci < chars.size(); ++ci) {
        if (!has[fi][ci]) continue;
        for (int64_t k = 0; k < o.per_font; ++k) {
          if (!keep[fi][ci * o.per_font + k]) continue;
          const uint64_t seed = mix_seed(o.seed, fnv1a(stem), ci * 100003 + static_cast<uint64_t>(k));
          const auto pixels = render_char(face, chars[ci], spec, seed);
          write_png(tmp + "/" + split + "/" + summary.classes[ci] + "/" + stem + "_" + std::to_string(k) + ".png",
                    pixels.data(), o.size, o.size, 1);
          (split == "train" ? summary.train : summary.test) += 1;
        }
      }
    }
  }
  mark_data_dir(tmp, "data glyphs");
  build.install();
  return summary;
}

std::u32string glyph_chars(const std::string& utf8) {
  check(!utf8.empty(), "--chars is empty");
  std::u32string chars;
  for (char32_t c : decode_utf8(utf8)) {
    check(c > U' ' && c != 0x7F && !(c >= 0x80 && c < 0xA0), "--chars: U+", std::hex, std::uppercase,
          static_cast<uint32_t>(c), " is a space or control character");
    check(chars.find(c) == std::u32string::npos, "--chars: '", encode_utf8(c), "' is repeated");
    chars.push_back(c);
  }
  return chars;
}

}  // namespace aft::data
