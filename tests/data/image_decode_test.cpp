// Decoding and resampling against PIL: PNG pixels must equal PIL's convert("RGB") exactly,
// JPEG within a small tolerance, PIL-bilinear resize exactly; bad files must name the file.
#include "aft/data/image_decode.h"

#include <gtest/gtest.h>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_ops.h"
#include "tests/data/data_test_util.h"

namespace aft::data {
namespace {

using testing::have_python_pil;
using testing::read_bytes;
using testing::run_python;
using testing::temp_dir;

const char* kMakeImages = R"PY(
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
def smooth(h, w):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([127 + 120*np.sin(x/7.0 + c) * np.cos(y/11.0 - c) for c in range(3)], -1)
    return (img + rng.integers(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
rgb = smooth(37, 53)
cases = {
  'rgb': Image.fromarray(rgb),
  'rgba': Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (37, 53), dtype=np.uint8)]), 'RGBA'),
  'l': Image.fromarray(rgb[:, :, 0]),
  'la': Image.fromarray(np.dstack([rgb[:, :, 0], rgb[:, :, 1]]), 'LA'),
  'p': Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE, colors=50),
  'one_bit': Image.fromarray(rgb[:, :, 0] > 128),
}
p = cases['p'].copy(); p.info['transparency'] = 3; cases['p_trns'] = p
for name, im in cases.items():
    kw = {'transparency': 3} if name == 'p_trns' else {}
    im.save(name + '.png', **kw)
    open(name + '.png.raw', 'wb').write(Image.open(name + '.png').convert('RGB').tobytes())
# 16-bit RGB written by hand (PIL cannot write it): big-endian samples via a raw PNG writer.
import zlib, struct
rgb16 = (rgb.astype(np.uint16) * 257 + rng.integers(0, 200, rgb.shape)).astype('>u2')
raw = b''.join(b'\x00' + rgb16[y].tobytes() for y in range(rgb16.shape[0]))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 53, 37, 16, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
open('rgb16.png', 'wb').write(png)
open('rgb16.png.raw', 'wb').write(Image.open('rgb16.png').convert('RGB').tobytes())
big = smooth(375, 500)
Image.fromarray(big).save('photo.jpg', quality=90)
open('photo.jpg.raw', 'wb').write(Image.open('photo.jpg').convert('RGB').tobytes())
Image.fromarray(big[:, :, 1]).save('gray.jpg', quality=85)
open('gray.jpg.raw', 'wb').write(Image.open('gray.jpg').convert('RGB').tobytes())
Image.fromarray(smooth(1200, 1600)).save('large.jpg', quality=80)
# PIL bilinear resizes of crops: (box, size) -> bytes
im = Image.open('photo.jpg').convert('RGB')
for i, (box, size) in enumerate([((0, 0, 500, 375), (224, 168)), ((13, 40, 301, 250), (224, 224)),
                                 ((100, 50, 150, 90), (224, 224)), ((0, 0, 500, 375), (341, 256)),
                                 ((7, 3, 70, 60), (63, 57))]):
    im.crop(box).resize(size, Image.BILINEAR).save('resize%d.png' % i)
)PY";

class ImageDecode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_python_pil()) return;
    dir_ = temp_dir("decode");
    ok_ = run_python(dir_, kMakeImages);
  }
  void SetUp() override {
    if (!have_python_pil()) GTEST_SKIP() << "/usr/bin/python3 with PIL not available";
    ASSERT_TRUE(ok_) << "reference generation failed";
  }
  static Image decode(const std::string& name, int64_t hint = 0) {
    const std::string path = dir_ + "/" + name;
    return decode_image(fs::read_file(path), path, hint);
  }
  static std::string dir_;
  static bool ok_;
};
std::string ImageDecode::dir_;
bool ImageDecode::ok_ = false;

TEST_F(ImageDecode, PngModesEqualPilExactly) {
  for (const std::string name : {"rgb", "rgba", "l", "la", "p", "p_trns", "one_bit", "rgb16"}) {
    const Image img = decode(name + ".png");
    const auto expected = read_bytes(dir_ + "/" + name + ".png.raw");
    ASSERT_EQ(img.height, 37) << name;
    ASSERT_EQ(img.width, 53) << name;
    EXPECT_EQ(img.pixels, expected) << name;
  }
}

TEST_F(ImageDecode, JpegWithinToleranceOfPil) {
  for (const std::string name : {"photo.jpg", "gray.jpg"}) {
    const Image img = decode(name);
    const auto expected = read_bytes(dir_ + "/" + name + ".raw");
    ASSERT_EQ(img.pixels.size(), expected.size()) << name;
    int max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) max_diff = std::max(max_diff, std::abs(int(img.pixels[i]) - int(expected[i])));
    EXPECT_LE(max_diff, 2) << name;
  }
}

TEST_F(ImageDecode, JpegScaledDecodeKeepsShorterSideAboveHint) {
  const Image full = decode("large.jpg");
  EXPECT_EQ(full.height, 1200);
  const Image small = decode("large.jpg", 256);
  EXPECT_GE(std::min(small.height, small.width), 256);
  EXPECT_LT(small.height, 600);
  const auto size = read_image_size(fs::read_file(dir_ + "/large.jpg"), "large.jpg");
  EXPECT_EQ(size, std::make_pair(int64_t(1200), int64_t(1600)));
}

TEST_F(ImageDecode, ResizeMatchesPilBilinearExactly) {
  const Image photo = decode("photo.jpg");
  const Rect boxes[] = {{0, 0, 375, 500}, {40, 13, 210, 288}, {50, 100, 40, 50}, {0, 0, 375, 500}, {3, 7, 57, 63}};
  const std::pair<int64_t, int64_t> sizes[] = {{168, 224}, {224, 224}, {224, 224}, {256, 341}, {57, 63}};
  for (int i = 0; i < 5; ++i) {
    const Image expected = decode("resize" + std::to_string(i) + ".png");
    const auto [h, w] = sizes[i];
    std::vector<uint8_t> out(static_cast<size_t>(h * w * 3));
    resize_region(photo, boxes[i], h, w, Rect{0, 0, h, w}, out.data());
    EXPECT_EQ(out, expected.pixels) << "case " << i;
    // A window of the same resize equals the crop of the full result.
    const Rect window{5, 9, h / 2, w / 3};
    std::vector<uint8_t> part(static_cast<size_t>(window.h * window.w * 3));
    resize_region(photo, boxes[i], h, w, window, part.data());
    for (int64_t y = 0; y < window.h; ++y) {
      for (int64_t x = 0; x < window.w * 3; ++x) {
        ASSERT_EQ(part[y * window.w * 3 + x], out[(y + window.y) * w * 3 + window.x * 3 + x]) << "case " << i;
      }
    }
  }
}

void expect_error_naming(const std::string& bytes, const std::string& path) {
  try {
    decode_image(bytes, path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(ImageDecode, CorruptAndTruncatedFilesNameTheFile) {
  const std::string jpeg = fs::read_file(dir_ + "/photo.jpg");
  const std::string png = fs::read_file(dir_ + "/rgb.png");
  expect_error_naming(jpeg.substr(0, jpeg.size() / 2), "/data/truncated.jpg");
  expect_error_naming(jpeg.substr(0, 300), "/data/header_only.jpg");
  expect_error_naming(png.substr(0, png.size() - 30), "/data/truncated.png");
  std::string garbled = png;
  for (size_t i = 60; i < garbled.size(); i += 3) garbled[i] = static_cast<char>(garbled[i] ^ 0x5A);
  expect_error_naming(garbled, "/data/garbled.png");
  expect_error_naming("this is not an image", "/data/text.jpg");
  expect_error_naming("", "/data/empty.png");
}

}  // namespace
}  // namespace aft::data
