#include "aft/methods/prefix_cache.h"

#include <torch/torch.h>

#include <cstring>

#include "aft/core/error.h"

namespace aft::methods {

namespace {

uint64_t mix(uint64_t h) {
  // The splitmix64 finaliser: every input bit reaches every output bit.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

}  // namespace

std::vector<uint64_t> content_hashes(const torch::Tensor& images) {
  const auto cpu = images.detach().to(torch::kCPU).contiguous();
  const int64_t n = cpu.size(0);
  const size_t row = n > 0 ? static_cast<size_t>(cpu.numel() / n) * cpu.element_size() : 0;
  const auto* bytes = static_cast<const unsigned char*>(cpu.data_ptr());
  std::vector<uint64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char* p = bytes + static_cast<size_t>(i) * row;
    uint64_t h = mix(row);
    size_t k = 0;
    for (; k + 8 <= row; k += 8) {
      uint64_t w;
      std::memcpy(&w, p + k, 8);
      h = mix(h ^ w) + k;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + k, row - k);
    out[static_cast<size_t>(i)] = mix(h ^ tail);
  }
  return out;
}

size_t PrefixCache::KeyHash::operator()(const Key& k) const {
  return static_cast<size_t>(mix(k.content ^ mix(static_cast<uint64_t>(k.tag) * 1000003ULL + k.pieces)));
}

torch::Tensor PrefixCache::run(models::VisionModel& model, int64_t tag, int64_t pieces, const torch::Tensor& images) {
  check(pieces >= 1 && pieces <= model.piece_count(), "prefix cache: ", pieces, " pieces of ", model.piece_count());
  const auto hashes = content_hashes(images);
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> rows(static_cast<size_t>(n));
  std::vector<int64_t> missing;
  for (int64_t i = 0; i < n; ++i) {
    auto it = entries_.find({tag, pieces, hashes[static_cast<size_t>(i)]});
    if (it != entries_.end()) {
      rows[static_cast<size_t>(i)] = it->second;
    } else {
      missing.push_back(i);
    }
  }
  stats_.hits += n - static_cast<int64_t>(missing.size());
  stats_.misses += static_cast<int64_t>(missing.size());
  if (!missing.empty()) {
    torch::NoGradGuard no_grad;
    const bool all = static_cast<int64_t>(missing.size()) == n;
    const auto index = torch::tensor(missing, torch::kLong).to(images.device());
    const auto computed = model.run_pieces(all ? images : images.index_select(0, index), 0, pieces);
    for (size_t m = 0; m < missing.size(); ++m) {
      // Views into the batch's output: one allocation per batch, not per image (thousands of
      // small blocks fragment the heap). A row dropped by the budget leaves at most one batch
      // of unused rows alive.
      auto row = computed[static_cast<int64_t>(m)];
      const auto i = static_cast<size_t>(missing[m]);
      rows[i] = row;
      const int64_t size = row.numel() * static_cast<int64_t>(row.element_size());
      if (stats_.bytes + size > budget_) continue;
      // Two identical images in one batch: the first stored wins, both rows are equal anyway.
      if (entries_.emplace(Key{tag, pieces, hashes[i]}, row).second) {
        stats_.bytes += size;
        ++stats_.entries;
      }
    }
  }
  return torch::stack(rows);
}

}  // namespace aft::methods
