// Portable seeded randomness for data: std::mt19937_64 is specified bit for bit, but the std
// distributions are not, so draws are made here to give the same splits, orders and
// augmentations with every standard library.
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace aft::data {

// SplitMix64 finaliser: mixes seeds so nearby (seed, epoch, position) give unrelated streams.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0) {
  return mix64(mix64(mix64(a) ^ b) ^ c);
}

// Uniform in [0, n), unbiased (rejection).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % n);
  uint64_t x;
  do x = rng(); while (x >= limit);
  return x % n;
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

template <typename T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

}  // namespace aft::data
