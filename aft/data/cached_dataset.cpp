// The cache holds shared_ptrs so a reader copies pixels outside the lock. An image decoded
// for a smaller min_side only serves requests that need no more detail than it has.
#include "aft/data/cached_dataset.h"

namespace aft::data {

CachedDataset::CachedDataset(DatasetPtr inner, int64_t budget_bytes)
    : inner_(std::move(inner)), budget_(budget_bytes), entries_(inner_->size()) {
  classes_ = inner_->classes();
}

Image CachedDataset::image_at_least(size_t index, int64_t min_side) const {
  std::shared_ptr<const Image> hit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry& e = entries_.at(index);
    if (e.image && (e.hint == 0 || (min_side > 0 && min_side <= e.hint))) hit = e.image;
  }
  if (hit) return *hit;
  Image decoded = inner_->image_at_least(index, min_side);
  const auto bytes = static_cast<int64_t>(decoded.pixels.size());
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& e = entries_[index];
  const int64_t freed = e.image ? static_cast<int64_t>(e.image->pixels.size()) : 0;
  if (used_.load() - freed + bytes <= budget_) {
    used_ += bytes - freed;
    e.image = std::make_shared<const Image>(decoded);
    e.hint = min_side;
  }
  return decoded;
}

std::pair<int64_t, int64_t> CachedDataset::image_size(size_t index) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry& e = entries_.at(index);
    if (e.image && e.hint == 0) return {e.image->height, e.image->width};
  }
  return inner_->image_size(index);
}

}  // namespace aft::data
