// PNG encoding with libpng into memory, then an atomic file write.
#include "aft/data/png_write.h"

#include <png.h>

#include <csetjmp>
#include <vector>

#include "aft/core/error.h"
#include <cstdio>

namespace aft::data {
namespace {

struct PngSink {
  std::string out;
  char message[256];
};

void on_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void on_write(png_structp png, png_bytep data, png_size_t length) {
  static_cast<PngSink*>(png_get_io_ptr(png))->out.append(reinterpret_cast<const char*>(data), length);
}

void on_flush(png_structp) {}

}  // namespace

std::string encode_png(const uint8_t* pixels, int64_t height, int64_t width, int channels) {
  check(channels == 1 || channels == 3, "encode_png: channels must be 1 or 3, got ", channels);
  PngSink sink;
  sink.message[0] = '\0';
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y) rows[y] = const_cast<png_bytep>(pixels + y * width * channels);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, nullptr);
  check(png != nullptr, "cannot allocate PNG encoder");
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fail("PNG encoding failed: ", sink.message);
  }
  png_set_write_fn(png, &sink, on_write, on_flush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::move(sink.out);
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int channels) {
  const std::string bytes = encode_png(pixels, height, width, channels);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "cannot write ", path);
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  check(std::fclose(f) == 0 && ok, "short write to ", path, " (disk full?)");
}

}  // namespace aft::data
