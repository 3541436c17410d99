// Glyphs beyond ASCII: UTF-8 --chars, fonts from folders and globs, fonts that lack a
// character skipped for it, a 2-font split; and the many-character source ("chars").
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/chars_source.h"
#include "aft/data/font_render.h"
#include "aft/data/generators.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

namespace stdfs = std::filesystem;
using testing::temp_dir;

size_t files_with_prefix(const std::string& dir, const std::string& prefix) {
  size_t n = 0;
  if (!stdfs::is_directory(dir)) return 0;
  for (const auto& e : stdfs::directory_iterator(dir)) n += e.path().filename().string().rfind(prefix, 0) == 0;
  return n;
}

TEST(GlyphScripts, DecodesUtf8AndRefusesBadInput) {
  EXPECT_EQ(decode_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E"), (std::u32string{U'a', 0xE9, 0x20AC, 0x1D11E}));
  EXPECT_THROW(decode_utf8("\xC3"), Error);
  EXPECT_THROW(decode_utf8("\xFF"), Error);
  for (char32_t c : {char32_t(0x41), char32_t(0x10D0), char32_t(0x1D11E)}) EXPECT_EQ(decode_utf8(encode_utf8(c))[0], c);
  EXPECT_EQ(glyph_chars("\xE1\x83\x90\xE1\x83\x91"), (std::u32string{0x10D0, 0x10D1}));  // Georgian an, ban
  EXPECT_THROW(glyph_chars("aba"), Error);
  EXPECT_THROW(glyph_chars("a b"), Error);
  EXPECT_EQ(glyph_class_name(0x10D0), "U+10D0");
}

TEST(GlyphScripts, FontsFromFoldersAndGlobs) {
  const std::string dejavu = "/usr/share/fonts/truetype/dejavu";
  if (!fs::exists(dejavu + "/DejaVuSans.ttf")) GTEST_SKIP() << "fonts-dejavu-core not installed";
  const auto folder = expand_font_specs({dejavu});
  const auto globbed = expand_font_specs({dejavu + "/DejaVuSans*.ttf", dejavu + "/DejaVuSans.ttf"});
  EXPECT_GE(folder.size(), globbed.size());
  EXPECT_EQ(std::count(globbed.begin(), globbed.end(), dejavu + "/DejaVuSans.ttf"), 1);
  EXPECT_THROW(expand_font_specs({dejavu + "/Nothing*.ttf"}), Error);
  EXPECT_THROW(expand_font_specs({"/nonexistent/font.ttf"}), Error);
  EXPECT_EQ(split_font_specs("a.ttf,/x/{B,C}-*.otf,,d"), (std::vector<std::string>{"a.ttf", "/x/{B,C}-*.otf", "d"}));
}

// Hebrew alef is in DejaVu Sans and FreeFont but not in Noto Mono: Noto Mono gives no alef
// samples, the others per_font each, and the split still has alef on both sides.
TEST(GlyphScripts, FontsLackingACharacterAreSkippedForIt) {
  const std::vector<std::string> fonts = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                          "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
                                          "/usr/share/fonts/truetype/freefont/FreeSerif.ttf",
                                          "/usr/share/fonts/truetype/noto/NotoMono-Regular.ttf"};
  for (const auto& f : fonts) {
    if (!fs::exists(f)) GTEST_SKIP() << f << " not installed (tools/setup.sh's font packages)";
  }
  ASSERT_FALSE(FontFace(fonts[3]).has_glyph(0x5D0));
  const std::string dir = temp_dir("glyph_scripts");
  GlyphOptions o;
  o.chars = "A\xD7\x90";  // A, alef
  o.fonts = fonts;
  o.test_fonts = 2;
  o.per_font = 2;
  o.size = 20;
  o.out = dir + "/two_scripts";
  const auto s = write_glyphs(o);
  EXPECT_EQ(s.classes, (std::vector<std::string>{"U+0041_A", "U+05D0"}));
  EXPECT_EQ(s.train + s.test, 4 * 2 + 3 * 2);
  for (const std::string split : {"train", "test"}) {
    EXPECT_EQ(files_with_prefix(dir + "/two_scripts/" + split + "/U+05D0", "NotoMono"), 0u);
  }
  EXPECT_EQ(files_with_prefix(dir + "/two_scripts/train/U+05D0", "") + files_with_prefix(dir + "/two_scripts/test/U+05D0", ""), 6u);
  // Fixed few-shot sizes: a seeded choice of the renders; the test choice ignores --per-class.
  // (One side may hold a single font with alef: 2 renders.)
  o.per_class = 2;
  o.test_per_class = 1;
  o.out = dir + "/few";
  const auto few = write_glyphs(o);
  EXPECT_EQ(few.train, 2 * 2);
  EXPECT_EQ(few.test, 2 * 1);
  o.per_class = 1;
  o.out = dir + "/fewer";
  write_glyphs(o);
  for (const char* cls : {"U+0041_A", "U+05D0"}) {
    std::set<std::string> a, b;
    for (const auto& e : stdfs::directory_iterator(dir + "/few/test/" + cls)) a.insert(e.path().filename().string());
    for (const auto& e : stdfs::directory_iterator(dir + "/fewer/test/" + cls)) b.insert(e.path().filename().string());
    EXPECT_EQ(a, b);
  }
  o.per_class = 100;
  o.out = dir + "/too_many";
  EXPECT_THROW(write_glyphs(o), Error);
  o.per_class = o.test_per_class = 0;
  // Two fonts are enough with the default --test-fonts: one each side.
  o.fonts = {fonts[0], fonts[1]};
  o.test_fonts = 0;
  o.out = dir + "/two_fonts";
  const auto two = write_glyphs(o);
  EXPECT_EQ(two.test_sources.size(), 1u);
  EXPECT_EQ(two.train, 2 * 2);
  // A character that only one side has, and one no font has: one clear error each.
  o.fonts = {fonts[0], fonts[3]};
  o.chars = "\xD7\x90";
  o.out = dir + "/one_side";
  EXPECT_THROW(write_glyphs(o), Error);
  o.fonts = fonts;
  o.chars = "A\xE4\xB8\x80";  // U+4E00: in none of these fonts
  try {
    write_glyphs(o);
    FAIL() << "no error for a character no font has";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("U+4E00"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir + "/one_side"));
}

TEST(GlyphScripts, GeorgianFromNotoFonts) {
  const std::string noto = "/usr/share/fonts/truetype/noto/";
  if (!fs::exists(noto + "NotoSansGeorgian-Regular.ttf")) GTEST_SKIP() << "fonts-noto-core not installed";
  const std::string dir = temp_dir("georgian");
  GlyphOptions o;
  o.chars = "\xE1\x83\x90\xE1\x83\x91\xE1\x83\x92";  // an, ban, gan
  o.fonts = {noto + "NotoS*Georgian-{Regular,Bold}.ttf"};
  o.per_font = 1;
  o.size = 24;
  o.out = dir + "/ka";
  const auto s = write_glyphs(o);
  EXPECT_EQ(s.classes.size(), 3u);
  EXPECT_EQ(s.train + s.test, 4 * 3);
  EXPECT_EQ(s.test_sources.size(), 2u);
}

TEST(CharsSource, ScriptsAreBroadAndLeaveTheTargetScriptsOut) {
  size_t total = 0;
  std::set<char32_t> seen;
  for (const auto& s : char_scripts()) {
    total += s.chars.size();
    for (char32_t c : s.chars) {
      EXPECT_TRUE(seen.insert(c).second) << "U+" << std::hex << static_cast<uint32_t>(c) << " twice";
      EXPECT_FALSE(c >= 0x10A0 && c <= 0x10FF) << "Georgian is a target";
      EXPECT_FALSE(c >= 0x0530 && c <= 0x058F) << "Armenian is a target";
    }
  }
  EXPECT_GE(total, 1000u);
  EXPECT_GE(char_scripts().size(), 8u);
}

TEST(CharsSource, WritesJitteredSamplesDeterministically) {
  if (auto_fonts().size() < 3) GTEST_SKIP() << "Debian font packages not installed";
  const std::string dir = temp_dir("chars");
  CharsOptions o;
  o.scripts = {"latin", "greek"};
  o.fonts = {"/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/freefont"};
  o.per_class = 3;
  o.test_per_class = 1;
  o.size = 16;
  o.out = dir + "/one";
  const auto s = write_chars(o);
  EXPECT_EQ(s.images.classes.size(), 51u + 33u);  // look-alikes (Latin l, Greek Alpha...) left out
  EXPECT_EQ(s.images.train, 84 * 3);
  EXPECT_EQ(s.images.test, 84);
  EXPECT_GE(s.fonts, 3);
  o.out = dir + "/two";
  write_chars(o);
  const std::string cls = "/train/U+03A9";
  ASSERT_EQ(testing::read_bytes(dir + "/one/aft-data.json").empty(), false);
  for (const auto& e : stdfs::directory_iterator(dir + "/one" + cls)) {
    EXPECT_EQ(fs::read_file(e.path().string()), fs::read_file(dir + "/two" + cls + "/" + e.path().filename().string()));
  }
  const auto marker = fs::read_json(dir + "/one/aft-data.json");
  EXPECT_EQ(marker["written_by"], "aft data chars");
  EXPECT_EQ(marker["classes"]["U+03A9"]["script"], "greek");
  EXPECT_EQ(marker["classes"]["U+03A9"]["char"], "\xCE\xA9");
  // Stroke jitter changes the image (same seed otherwise).
  FontFace face("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
  RenderSpec plain, stroked;
  stroked.stroke = 0.08;
  EXPECT_NE(render_char(face, U'H', plain, 3), render_char(face, U'H', stroked, 3));
  // A script no given font covers: the error names the package.
  o.scripts = {"cjk"};
  o.out = dir + "/cjk";
  try {
    write_chars(o);
    FAIL() << "no error for an uncovered script";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fonts-noto-cjk"), std::string::npos) << e.what();
  }
  o.scripts = {"klingon"};
  EXPECT_THROW(write_chars(o), Error);
}

}  // namespace
}  // namespace aft::data
