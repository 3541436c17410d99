// Generators: glyph rendering is deterministic and splits by font; the data CLI writes,
// inspects and times image folders end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <set>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/generators.h"
#include "aft/data/idx_dataset.h"
#include "aft/data/splits.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

using testing::temp_dir;

TEST(GlyphGenerator, RendersIdenticallyTwiceAndJitters) {
  const auto fonts = auto_fonts();
  if (fonts.size() < 3) GTEST_SKIP() << "Debian font packages not installed";
  const auto a = render_glyph(fonts[0], U'A', 32, 0.1, 7);
  EXPECT_EQ(a, render_glyph(fonts[0], U'A', 32, 0.1, 7));
  EXPECT_NE(a, render_glyph(fonts[0], U'A', 32, 0.1, 8));
  int lit = 0;
  for (uint8_t v : a) lit += v > 128;
  EXPECT_GT(lit, 20);
  EXPECT_EQ(glyph_class_name(U'a'), "U+0061_a");
  EXPECT_EQ(glyph_class_name(U'A'), "U+0041_A");
  EXPECT_EQ(glyph_class_name(U'/'), "U+002F");
}

TEST(GlyphGenerator, SplitsByFontDeterministically) {
  const auto fonts = auto_fonts();
  if (fonts.size() < 3) GTEST_SKIP() << "Debian font packages not installed";
  const std::string dir = temp_dir("glyphs");
  GlyphOptions o;
  o.chars = "AbC";
  o.fonts = {fonts[0], fonts[1], fonts[2]};
  o.test_fonts = 1;
  o.per_font = 2;
  o.size = 24;
  o.out = dir + "/one";
  const auto s1 = write_glyphs(o);
  o.out = dir + "/two";
  const auto s2 = write_glyphs(o);
  EXPECT_EQ(s1.test_sources, s2.test_sources);
  EXPECT_EQ(s1.train, 2 * 3 * 2);
  EXPECT_EQ(s1.test, 1 * 3 * 2);
  for (const auto& f : s1.test_sources) {
    EXPECT_EQ(std::count(s1.train_sources.begin(), s1.train_sources.end(), f), 0);
  }
  const std::string stem = std::filesystem::path(s1.train_sources[0]).stem().string();
  const std::string file = "/train/U+0062_b/" + stem + "_1.png";
  EXPECT_EQ(fs::read_file(dir + "/one" + file), fs::read_file(dir + "/two" + file));
  EXPECT_FALSE(fs::exists(dir + "/one.tmp"));
  DataOptions d;
  d.root = dir + "/one";
  EXPECT_EQ(open_splits(d).classes.size(), 3u);
  o.fonts = {fonts[0]};
  EXPECT_THROW(write_glyphs(o), Error);
}

#ifdef AFT_BINARY
int run_cli(const std::string& args, const std::string& out_file) {
  return std::system((std::string(AFT_BINARY) + " " + args + " > '" + out_file + "' 2>&1").c_str());
}

TEST(DataCli, FashionMnistInfoSplitAndBench) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  const std::string dir = temp_dir("cli");
  const std::string log = dir + "/log.txt";
  ASSERT_EQ(run_cli("data fashion-mnist --out " + dir + "/fm --classes 0,3 --per-class 12 --test-per-class 4", log), 0)
      << fs::read_file(log);
  ASSERT_EQ(run_cli("data info " + dir + "/fm", log), 0) << fs::read_file(log);
  const auto info = nlohmann::json::parse(fs::read_file(log));
  EXPECT_EQ(info["classes"], (std::vector<std::string>{"dress", "t-shirt"}));
  EXPECT_EQ(info["train"]["images"], 24);
  EXPECT_EQ(info["test"]["height"]["max"], 32);
  ASSERT_EQ(run_cli("data split --data " + dir + "/fm --out " + dir + "/fm_split --val-fraction 0.25", log), 0)
      << fs::read_file(log);
  EXPECT_TRUE(fs::exists(dir + "/fm_split/val/dress"));
  ASSERT_EQ(run_cli("data bench " + dir + "/fm --preset small --batch-size 8 --seconds 0.2 --workers 2", log), 0)
      << fs::read_file(log);
  EXPECT_NE(fs::read_file(log).find("images_per_second"), std::string::npos);
  // Existing output without --overwrite, and a bad dataset root: one clear line, non-zero exit.
  EXPECT_NE(run_cli("data fashion-mnist --out " + dir + "/fm --classes 1", log), 0);
  EXPECT_NE(fs::read_file(log).find("already exists"), std::string::npos);
  EXPECT_NE(run_cli("data info " + dir + "/missing", log), 0);
  EXPECT_NE(fs::read_file(log).find("aft: error:"), std::string::npos);
}
#endif

}  // namespace
}  // namespace aft::data
