// One transform class covers every preset: (optional random crop box) -> resize -> output
// window (centre / random / padded) -> optional flip -> optional RandAugment/TrivialAugment
// -> normalise, fused so that only the kept pixels are resampled and the float tensor is
// written once, in CHW order.
#include "aft/data/transforms.h"

#include <cmath>

#include "aft/core/error.h"
#include "aft/data/auto_augment.h"
#include "aft/data/image_ops.h"
#include "aft/data/random.h"

namespace aft::data {

namespace {

struct Normalization {
  float mean[3], std[3];
};
// ImageNet's channel statistics (torchvision's recipe) and the [-1, 1] scaling of models
// trained from TensorFlow's Inception preprocessing (timm's "inception" mean/std: EfficientNet-
// Lite, docs/efficientnet.md).
constexpr Normalization kImagenet{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
constexpr Normalization kInception{{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};

int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

enum class Window { kCenter, kRandom };

struct Recipe {
  bool random_resized_crop = false;  // torchvision RandomResizedCrop(size)
  int64_t resize = 0;                // Resize(resize) of the shorter side; 0: none
  Window window = Window::kCenter;
  int64_t padding = 0;               // RandomCrop padding (zeros)
  bool flip = false;
  int64_t size = 0;
  std::string name;
  std::shared_ptr<const AutoAugment> augment;  // train only; null: none
  Filter filter = Filter::bilinear;
  Normalization norm = kImagenet;
};

class PresetTransform : public Transform {
 public:
  explicit PresetTransform(Recipe r) : r_(std::move(r)) {}

  int64_t output_size() const override { return r_.size; }
  std::string describe() const override { return r_.name; }
  bool random() const override {
    return r_.random_resized_crop || r_.flip || r_.window == Window::kRandom || r_.augment != nullptr;
  }

  int64_t min_side_hint() const override {
    // A RandomResizedCrop may keep only sqrt(0.08) of the shorter side; decoding at least
    // size/sqrt(0.08) keeps every crop at or above the output resolution.
    if (r_.random_resized_crop) return static_cast<int64_t>(std::ceil(r_.size / std::sqrt(0.08)));
    return r_.resize > 0 ? r_.resize : 0;
  }

  void apply_to(const Image& image, Rng& rng, float* out) const override {
    check(image.height > 0 && image.width > 0, "transform: empty image");
    const int64_t s = r_.size;
    Rect crop{0, 0, image.height, image.width};
    int64_t rh = image.height, rw = image.width;
    int64_t top = 0, left = 0;
    if (r_.random_resized_crop) {
      crop = random_resized_crop_box(image.height, image.width, rng);
      rh = rw = s;
    } else {
      if (r_.resize > 0) std::tie(rh, rw) = resized_shorter_side(image.height, image.width, r_.resize);
      top = window_offset(rh, rng);
      left = window_offset(rw, rng);
    }
    const bool flip = r_.flip && uniform01(rng) < 0.5;
    // Part of the window inside the resized image; the rest is zero padding.
    const Rect inside{std::max<int64_t>(top, 0), std::max<int64_t>(left, 0),
                      std::min(top + s, rh) - std::max<int64_t>(top, 0),
                      std::min(left + s, rw) - std::max<int64_t>(left, 0)};
    thread_local std::vector<uint8_t> buffer;
    buffer.resize(static_cast<size_t>(std::max<int64_t>(inside.h, 0) * std::max<int64_t>(inside.w, 0) * 3));
    if (inside.h > 0 && inside.w > 0) resize_region(image, crop, rh, rw, inside, buffer.data(), r_.filter);
    // The output window as a uint8 image (padding black, flipped): what torchvision's
    // geometric transforms hand to the next one.
    thread_local Image canvas;
    canvas.height = canvas.width = s;
    canvas.pixels.resize(static_cast<size_t>(s * s * 3));
    for (int64_t y = 0; y < s; ++y) {
      const int64_t iy = top + y - inside.y;
      const bool row_in = iy >= 0 && iy < inside.h;
      for (int64_t x = 0; x < s; ++x) {
        const int64_t ix = left + (flip ? s - 1 - x : x) - inside.x;
        uint8_t* o = canvas.pixels.data() + (y * s + x) * 3;
        if (row_in && ix >= 0 && ix < inside.w) {
          const uint8_t* p = buffer.data() + (iy * inside.w + ix) * 3;
          o[0] = p[0], o[1] = p[1], o[2] = p[2];
        } else {
          o[0] = o[1] = o[2] = 0;
        }
      }
    }
    // RandAugment / TrivialAugment come after the crop and flip and before ToTensor +
    // Normalize, where torchvision's and timm's recipes put them (on the output-size image).
    const Image& pixels = r_.augment ? (canvas = r_.augment->apply(canvas, rng)) : canvas;
    float scale[3], bias[3];
    for (int c = 0; c < 3; ++c) {
      scale[c] = 1.0f / (255.0f * r_.norm.std[c]);
      bias[c] = -r_.norm.mean[c] / r_.norm.std[c];
    }
    const int64_t plane = s * s;
    for (int64_t o = 0; o < plane; ++o) {
      const uint8_t* p = pixels.pixels.data() + o * 3;
      out[o] = p[0] * scale[0] + bias[0];
      out[plane + o] = p[1] * scale[1] + bias[1];
      out[2 * plane + o] = p[2] * scale[2] + bias[2];
    }
  }

  // torchvision.transforms.RandomResizedCrop.get_params (scale 0.08-1, ratio 3/4-4/3).
  static Rect random_resized_crop_box(int64_t height, int64_t width, Rng& rng) {
    const double area = static_cast<double>(height * width);
    const double lo = std::log(3.0 / 4.0), hi = std::log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * (0.08 + (1.0 - 0.08) * uniform01(rng));
      const double ratio = std::exp(lo + (hi - lo) * uniform01(rng));
      const int64_t w = round_half_even(std::sqrt(target * ratio));
      const int64_t h = round_half_even(std::sqrt(target / ratio));
      if (0 < w && w <= width && 0 < h && h <= height) {
        const auto i = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(height - h + 1)));
        const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(width - w + 1)));
        return Rect{i, j, h, w};
      }
    }
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    int64_t w = width, h = height;
    if (in_ratio < 3.0 / 4.0) {
      h = round_half_even(w / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
      w = round_half_even(h * (4.0 / 3.0));
    }
    return Rect{(height - h) / 2, (width - w) / 2, h, w};
  }

 private:
  // Offset of the output window along one axis of length n (may be negative: padding).
  int64_t window_offset(int64_t n, Rng& rng) const {
    const int64_t s = r_.size;
    if (r_.window == Window::kRandom) {
      const int64_t range = n + 2 * r_.padding - s;  // torchvision RandomCrop on the padded image
      if (range >= 0) return static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(range + 1))) - r_.padding;
    }
    if (s > n) return -((s - n) / 2);  // CenterCrop pads (left = (s - n) // 2) when too small
    return round_half_even((n - s) / 2.0);
  }

  Recipe r_;
};

}  // namespace

torch::Tensor Transform::apply(const Image& image, Rng& rng) const {
  const int64_t s = output_size();
  torch::Tensor out = torch::empty({3, s, s}, torch::kFloat32);
  apply_to(image, rng, out.data_ptr<float>());
  return out;
}

std::vector<std::string> preset_names() {
  return {"imagenet224", "lite", "decathlon72", "small", "small-noflip", "none"};
}

TransformPtr make_preset(const std::string& spec, bool train, int64_t size, const AugmentSpec& augment) {
  check(size >= 0, "transform size must be >= 0, got ", size);
  Recipe r;
  // PRESET or PRESET:NORM, NORM one of imagenet, inception (the preset's own by default).
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  std::string norm = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (norm.empty()) norm = name == "lite" ? "inception" : "imagenet";
  check(norm == "imagenet" || norm == "inception", "transform ", spec, ": unknown normalisation '", norm,
        "' (valid: imagenet, inception)");
  r.norm = norm == "inception" ? kInception : kImagenet;
  const std::string suffix = norm == "inception" ? "+Normalize(0.5,0.5)" : "+Normalize";
  if (name == "lite") {
    // timm's evaluation recipe for tf_efficientnet_lite*: bicubic, crop fraction 0.875.
    r.size = size > 0 ? size : 224;
    r.filter = Filter::bicubic;
    if (train) {
      r.random_resized_crop = true;
      r.flip = true;
      r.name = "RandomResizedCrop(" + std::to_string(r.size) + ",bicubic)+RandomHorizontalFlip";
    } else {
      r.resize = static_cast<int64_t>(std::floor(static_cast<double>(r.size) / 0.875));
      r.name = "Resize(" + std::to_string(r.resize) + ",bicubic)+CenterCrop(" + std::to_string(r.size) + ")";
    }
  } else if (name == "imagenet224") {
    r.size = size > 0 ? size : 224;
    if (train) {
      r.random_resized_crop = true;
      r.flip = true;
      r.name = "RandomResizedCrop(" + std::to_string(r.size) + ")+RandomHorizontalFlip";
    } else {
      r.resize = round_half_even(r.size * 256.0 / 224.0);
      r.name = "Resize(" + std::to_string(r.resize) + ")+CenterCrop(" + std::to_string(r.size) + ")";
    }
  } else if (name == "decathlon72") {
    r.size = size > 0 ? size : 64;
    r.resize = round_half_even(r.size * 72.0 / 64.0);
    r.window = train ? Window::kRandom : Window::kCenter;
    r.flip = train;
    r.name = "Resize(" + std::to_string(r.resize) + ")+" + (train ? "RandomCrop(" : "CenterCrop(") +
             std::to_string(r.size) + ")" + (train ? "+RandomHorizontalFlip" : "");
  } else if (name == "small" || name == "small-noflip") {
    r.size = size > 0 ? size : 32;
    r.resize = r.size;  // a no-op on images already of this size
    r.window = train ? Window::kRandom : Window::kCenter;
    r.padding = train ? 4 : 0;
    r.flip = train && name == "small";
    r.name = "Resize(" + std::to_string(r.size) + ")+" +
             (train ? "RandomCrop(" + std::to_string(r.size) + ",padding=4)" : "CenterCrop(" + std::to_string(r.size) + ")") +
             (r.flip ? "+RandomHorizontalFlip" : "");
  } else if (name == "none") {
    r.size = size > 0 ? size : 224;
    r.resize = r.size;
    r.name = "Resize(" + std::to_string(r.size) + ")+CenterCrop(" + std::to_string(r.size) + ")";
  } else {
    std::string valid;
    for (const auto& n : preset_names()) valid += (valid.empty() ? "" : ", ") + n;
    fail("unknown transform preset '", name, "' (valid: ", valid, ")");
  }
  if (train && augment.enabled()) {
    r.augment = std::make_shared<const AutoAugment>(augment, r.size, r.size);
    r.name += "+" + r.augment->describe();
  }
  r.name += suffix;
  return std::make_shared<PresetTransform>(std::move(r));
}

// Exposed for tests that compare the box distribution with torchvision's get_params.
Rect sample_random_resized_crop(int64_t height, int64_t width, Rng& rng) {
  return PresetTransform::random_resized_crop_box(height, width, rng);
}

}  // namespace aft::data
