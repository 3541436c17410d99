// write_chars: coverage is computed once per font, each class's samples are dealt round-robin
// over a seeded order of the fonts that cover it, and rendering then runs font by font so
// only one face is open at a time.
#include "aft/data/chars_source.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/folder_tools.h"
#include "aft/data/font_render.h"
#include "aft/data/png_write.h"
#include "aft/data/random.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

std::u32string range(char32_t first, char32_t last, std::u32string skip = U"") {
  std::u32string out;
  for (char32_t c = first; c <= last; ++c) {
    if (skip.find(c) == std::u32string::npos) out.push_back(c);
  }
  return out;
}

std::u32string spaced(char32_t first, char32_t step, int count) {
  std::u32string out;
  for (int k = 0; k < count; ++k) out.push_back(first + step * static_cast<char32_t>(k));
  return out;
}

struct Job {
  size_t cls;
  bool test;
  int64_t k;  // sample index within the class and split
};

}  // namespace

const std::vector<CharScript>& char_scripts() {
  // Every class must be learnable, so look-alikes are left out: letters that print exactly as
  // another script's (Greek and Cyrillic capitals shaped like Latin ones, Greek omicron and nu,
  // hiragana he = katakana he), Latin l (= I in sans fonts), Cyrillic lower case (small
  // capitals once centred and scaled) and small kana (their full-size forms, scaled).
  static const std::vector<CharScript> scripts = {
      {"latin", range(U'A', U'Z') + range(U'a', U'z', U"l"), "fonts-dejavu-core fonts-liberation fonts-freefont-ttf"},
      {"greek", range(0x391, 0x3A9, U"\u0391\u0392\u0395\u0396\u0397\u0399\u039A\u039C\u039D\u039F\u03A1\u03A2\u03A4\u03A5\u03A7") +
                    range(0x3B1, 0x3C9, U"\u03BD\u03BF"),
       "fonts-dejavu-core fonts-noto-core"},
      {"cyrillic", range(0x410, 0x42F, U"\u0410\u0412\u0415\u041A\u041C\u041D\u041E\u0420\u0421\u0422\u0425"),
       "fonts-dejavu-core fonts-noto-core"},
      {"hebrew", range(0x5D0, 0x5EA), "fonts-noto-core fonts-freefont-ttf"},
      {"arabic", range(0x621, 0x63A) + range(0x641, 0x64A), "fonts-noto-core fonts-freefont-ttf"},
      {"devanagari", range(0x905, 0x939), "fonts-noto-core fonts-freefont-ttf"},
      {"thai", range(0xE01, 0xE2E), "fonts-noto-core fonts-freefont-ttf"},
      {"kana", range(0x3041, 0x3093, U"\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087\u308E\u3078\u3079\u307A") +
                   range(0x30A1, 0x30F6, U"\u30A1\u30A3\u30A5\u30A7\u30A9\u30C3\u30E3\u30E5\u30E7\u30EE\u30F5\u30F6"),
       "fonts-noto-cjk"},
      {"hangul", spaced(0xAC00, 43, 260), "fonts-noto-cjk"},
      {"cjk", spaced(0x4E00, 61, 340), "fonts-noto-cjk"},
  };
  return scripts;
}

const std::vector<std::string>& default_char_font_globs() {
  static const std::vector<std::string> globs = {
      "/usr/share/fonts/truetype/dejavu/*.ttf",
      "/usr/share/fonts/truetype/liberation/*.ttf",
      "/usr/share/fonts/truetype/freefont/*.ttf",
      "/usr/share/fonts/truetype/noto/Noto{Sans,Serif,SansDisplay,SerifDisplay,SansMono,SansHebrew,SerifHebrew,"
      "RashiHebrew,SansArabic,NaskhArabic,KufiArabic,SansDevanagari,SerifDevanagari,SansThai,SerifThai,LoopedThai}-"
      "{Regular,Bold,Light,Black,Italic,Condensed,ExtraCondensedBold,SemiCondensedLight}.ttf",
      "/usr/share/fonts/opentype/noto/Noto*CJK-*.ttc",
      // Noto CJK alone gives kana, Hangul and ideographs 4 fonts; these add a dozen designs.
      "/usr/share/fonts/truetype/unfonts-core/*.ttf",
      "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
      "/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf",
      "/usr/share/fonts/truetype/wqy/*.ttc",
      "/usr/share/fonts/truetype/arphic/*.ttc",
  };
  return globs;
}

CharsSummary write_chars(const CharsOptions& o) {
  check(o.size >= 8 && o.size <= 512, "--size must be in [8, 512], got ", o.size);
  check(o.per_class >= 1 && o.test_per_class >= 1, "--per-class and --test-per-class must be >= 1");
  check(o.jitter >= 0 && o.jitter <= 0.5, "--jitter must be in [0, 0.5], got ", o.jitter);
  check(o.stroke >= 0 && o.stroke <= 0.1, "--stroke must be in [0, 0.1], got ", o.stroke);
  // Classes, in script order.
  std::vector<const CharScript*> scripts;
  for (const auto& s : char_scripts()) {
    if (o.scripts.empty() || std::count(o.scripts.begin(), o.scripts.end(), s.name)) scripts.push_back(&s);
  }
  for (const auto& name : o.scripts) {
    const bool known = std::any_of(char_scripts().begin(), char_scripts().end(), [&](const auto& s) { return s.name == name; });
    std::string valid;
    for (const auto& s : char_scripts()) valid += (valid.empty() ? "" : ", ") + s.name;
    check(known, "--scripts: unknown script '", name, "' (valid: ", valid, ")");
  }
  std::vector<char32_t> chars;
  std::vector<const CharScript*> script_of;
  for (const auto* s : scripts) {
    for (char32_t c : s->chars) chars.push_back(c), script_of.push_back(s);
  }
  // Fonts: the defaults tolerate missing packages (checked per script below); explicit ones do not.
  std::vector<std::string> fonts;
  if (o.fonts.empty()) {
    for (const auto& g : default_char_font_globs()) {
      glob_t m{};
      if (::glob(g.c_str(), GLOB_BRACE, nullptr, &m) == 0) {
        for (size_t i = 0; i < m.gl_pathc; ++i) fonts.emplace_back(m.gl_pathv[i]);
      }
      globfree(&m);
    }
    std::sort(fonts.begin(), fonts.end());
  } else {
    fonts = expand_font_specs(o.fonts);
  }
  std::vector<std::vector<size_t>> covering(chars.size());  // font indices per class
  for (size_t fi = 0; fi < fonts.size(); ++fi) {
    const FontFace face(fonts[fi]);
    for (size_t ci = 0; ci < chars.size(); ++ci) {
      if (face.has_glyph(chars[ci])) covering[ci].push_back(fi);
    }
  }
  for (size_t ci = 0; ci < chars.size(); ++ci) {
    check(!covering[ci].empty(), "chars: no font covers U+", std::hex, std::uppercase, static_cast<uint32_t>(chars[ci]),
          " (", script_of[ci]->name, "); install ", script_of[ci]->packages, ", or leave it out with --scripts");
  }
  // Deal each class's samples over a seeded order of its fonts: every font appears about
  // equally often, and the train and test samples of a font are different jitter draws.
  std::vector<std::vector<Job>> jobs(fonts.size());
  for (size_t ci = 0; ci < chars.size(); ++ci) {
    std::vector<size_t> order = covering[ci];
    std::mt19937_64 rng(mix_seed(o.seed, 0xC4A5ull, chars[ci]));
    shuffle(order, rng);
    for (int64_t k = 0; k < o.per_class + o.test_per_class; ++k) {
      const bool test = k >= o.per_class;
      jobs[order[k % order.size()]].push_back({ci, test, test ? k - o.per_class : k});
    }
  }
  DataBuild build(o.out, o.overwrite);
  const std::string& tmp = build.dir();
  CharsSummary summary;
  nlohmann::json table = nlohmann::json::object();
  for (size_t ci = 0; ci < chars.size(); ++ci) {
    const std::string name = glyph_class_name(chars[ci]);
    summary.images.classes.push_back(name);
    table[name] = {{"char", encode_utf8(chars[ci])}, {"script", script_of[ci]->name}, {"fonts", covering[ci].size()}};
    fs::create_directories(tmp + "/train/" + name);
    fs::create_directories(tmp + "/test/" + name);
  }
  RenderSpec spec;
  spec.size = o.size;
  spec.jitter = o.jitter;
  spec.stroke = o.stroke;
  spec.fit = true;
  for (size_t fi = 0; fi < fonts.size(); ++fi) {
    if (jobs[fi].empty()) continue;
    FontFace face(fonts[fi]);
    const std::string stem = stdfs::path(fonts[fi]).stem().string();
    ++summary.fonts;
    for (const Job& j : jobs[fi]) {
      const uint64_t seed = mix_seed(o.seed, chars[j.cls], static_cast<uint64_t>(j.k) * 2 + j.test);
      const auto pixels = render_char(face, chars[j.cls], spec, seed);
      const std::string split = j.test ? "test" : "train";
      write_png(tmp + "/" + split + "/" + summary.images.classes[j.cls] + "/" + std::to_string(j.k) + "_" + stem + ".png",
                pixels.data(), o.size, o.size, 1);
      ++(j.test ? summary.images.test : summary.images.train);
    }
  }
  for (const auto* s : scripts) summary.scripts.emplace_back(s->name, static_cast<int64_t>(s->chars.size()));
  mark_data_dir(tmp, "data chars",
                {{"classes", table},
                 {"options", {{"size", o.size}, {"per_class", o.per_class}, {"test_per_class", o.test_per_class},
                              {"jitter", o.jitter}, {"stroke", o.stroke}, {"seed", o.seed}}}});
  build.install();
  return summary;
}

}  // namespace aft::data
