// Keeps decoded uint8 images in memory, filled lazily on first access until a byte budget is
// spent (later images are decoded each time). Thread-safe; wraps any Dataset.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

constexpr int64_t kDefaultCacheBytes = int64_t(2) << 30;

class CachedDataset : public Dataset {
 public:
  CachedDataset(DatasetPtr inner, int64_t budget_bytes = kDefaultCacheBytes);
  size_t size() const override { return inner_->size(); }
  int64_t label(size_t index) const override { return inner_->label(index); }
  Image image(size_t index) const override { return image_at_least(index, 0); }
  Image image_at_least(size_t index, int64_t min_side) const override;
  std::pair<int64_t, int64_t> image_size(size_t index) const override;
  std::string describe(size_t index) const override { return inner_->describe(index); }
  int64_t cached_bytes() const { return used_.load(); }

 private:
  struct Entry {
    std::shared_ptr<const Image> image;
    int64_t hint = 0;  // the min_side it was decoded for (0: full size)
  };
  DatasetPtr inner_;
  int64_t budget_;
  mutable std::mutex mutex_;
  mutable std::vector<Entry> entries_;
  mutable std::atomic<int64_t> used_{0};
};

}  // namespace aft::data
