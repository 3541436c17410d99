// JPEG and PNG decoding to RGB. libjpeg and libpng report errors through longjmp: each decoder
// keeps its C structs and the output image in the frame that calls setjmp, so the jump skips
// no destructor, and the error becomes an aft::Error once the library state is torn down.
#include "aft/data/image_decode.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <atomic>
#include <cstring>

#include "aft/core/error.h"

namespace aft::data {
namespace {

struct JpegError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_on_error(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg only warns on a truncated file and pads it with grey; PIL refuses such files
// ("image file is truncated"), and a silently grey image would poison training, so fail.
void jpeg_on_message(j_common_ptr info, int level) {
  if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(info);
}

// The scale N/8 (N in 1..8) with the smallest output whose shorter side is still >= hint.
int jpeg_scale_num(int64_t height, int64_t width, int64_t hint) {
  const int64_t shorter = std::min(height, width);
  if (hint <= 0 || shorter < 2 * hint) return 8;
  for (int num = 1; num < 8; ++num) {
    // libjpeg rounds scaled dimensions up.
    if ((shorter * num + 7) / 8 >= hint) return num;
  }
  return 8;
}

Image decode_jpeg(const std::string& bytes, const std::string& path, int64_t hint) {
  Image image;
  jpeg_decompress_struct info;
  JpegError err;
  info.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_on_error;
  err.pub.emit_message = jpeg_on_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&info);
    fail(path, ": corrupt or truncated JPEG (", err.message, ")");
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  info.scale_num = jpeg_scale_num(info.image_height, info.image_width, hint);
  info.scale_denom = 8;
  jpeg_start_decompress(&info);
  image.height = info.output_height;
  image.width = info.output_width;
  image.pixels.resize(static_cast<size_t>(image.height * image.width * 3));
  const size_t channels = static_cast<size_t>(info.output_components);
  std::vector<uint8_t> cmyk_row(cmyk ? image.width * 4 : 0);
  while (info.output_scanline < info.output_height) {
    uint8_t* out = image.pixels.data() + static_cast<size_t>(info.output_scanline) * image.width * 3;
    JSAMPROW row = cmyk ? cmyk_row.data() : out;
    jpeg_read_scanlines(&info, &row, 1);
    if (cmyk) {
      // Adobe CMYK JPEGs store inverted values; PIL's CMYK->RGB is then c*k/255.
      for (int64_t x = 0; x < image.width; ++x) {
        const uint8_t* p = cmyk_row.data() + x * channels;
        for (int c = 0; c < 3; ++c) out[x * 3 + c] = static_cast<uint8_t>((p[c] * p[3] + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

struct PngSource {
  const std::string* bytes;
  size_t offset;
  char message[256];
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof(src->message), "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

void png_read_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->offset + length > src->bytes->size()) png_error(png, "file is truncated");
  std::memcpy(out, src->bytes->data() + src->offset, length);
  src->offset += length;
}

Image decode_png(const std::string& bytes, const std::string& path) {
  Image image;
  std::vector<png_bytep> rows;
  PngSource src{&bytes, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  check(png != nullptr, path, ": cannot allocate PNG decoder");
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    fail(path, ": corrupt or truncated PNG (", src.message, ")");
  }
  if (info == nullptr) png_error(png, "cannot allocate PNG info");
  png_set_read_fn(png, &src, png_read_memory);
  png_read_info(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  // Matches PIL's convert("RGB"): palette expanded, 16-bit reduced to the high byte, gray
  // replicated, alpha and tRNS transparency simply dropped (no compositing, no gamma).
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  // Palette expansion turns tRNS into an alpha channel: strip that too.
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8) {
    png_error(png, "unsupported PNG layout");
  }
  image.height = png_get_image_height(png, info);
  image.width = png_get_image_width(png, info);
  image.pixels.resize(static_cast<size_t>(image.height * image.width * 3));
  rows.resize(static_cast<size_t>(image.height));
  for (int64_t y = 0; y < image.height; ++y) rows[y] = image.pixels.data() + y * image.width * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

uint32_t read_be32(const std::string& b, size_t at) {
  return (uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
         (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3]));
}

std::pair<int64_t, int64_t> jpeg_size(const std::string& bytes, const std::string& path) {
  std::pair<int64_t, int64_t> size{0, 0};
  jpeg_decompress_struct info;
  JpegError err;
  info.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_on_error;
  err.pub.emit_message = jpeg_on_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&info);
    fail(path, ": corrupt JPEG header (", err.message, ")");
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  size = {info.image_height, info.image_width};
  jpeg_destroy_decompress(&info);
  return size;
}

}  // namespace

ImageFormat sniff_format(const std::string& bytes) {
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (bytes.size() >= 3 && uint8_t(bytes[0]) == 0xFF && uint8_t(bytes[1]) == 0xD8 &&
      uint8_t(bytes[2]) == 0xFF) {
    return ImageFormat::kJpeg;
  }
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

namespace {
std::atomic<int64_t> g_max_pixels{kDefaultMaxImagePixels};
}  // namespace

void set_max_image_pixels(int64_t pixels) {
  check(pixels > 0, "--max-image-pixels ", pixels, ": must be > 0");
  g_max_pixels = pixels;
}

int64_t max_image_pixels() { return g_max_pixels; }

Image decode_image(const std::string& bytes, const std::string& path, int64_t min_side_hint) {
  if (sniff_format(bytes) != ImageFormat::kUnknown) {
    // The header is checked before any pixel memory is taken.
    const auto [h, w] = read_image_size(bytes, path);
    check(h > 0 && w > 0, path, ": the header claims an image of ", w, "x", h, " pixels");
    check(h <= g_max_pixels / w, path, ": ", w, "x", h, " pixels is above the limit of ", g_max_pixels.load(),
          " (a decompression bomb?); raise it with --max-image-pixels if the image is genuine");
  }
  switch (sniff_format(bytes)) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, path, min_side_hint);
    case ImageFormat::kPng: return decode_png(bytes, path);
    default:
      fail(path, ": not a JPEG or PNG file (", bytes.empty() ? "empty file" : "unknown magic bytes", ")");
  }
}

std::pair<int64_t, int64_t> read_image_size(const std::string& bytes, const std::string& path) {
  switch (sniff_format(bytes)) {
    case ImageFormat::kJpeg: return jpeg_size(bytes, path);
    case ImageFormat::kPng:
      check(bytes.size() >= 24, path, ": truncated PNG header");
      return {read_be32(bytes, 20), read_be32(bytes, 16)};
    default: fail(path, ": not a JPEG or PNG file");
  }
}

}  // namespace aft::data
