// Worker threads claim whole batches in order, up to `prefetch` ahead of the consumer, and
// hand them over through a map keyed by batch number; next() yields them strictly in order.
// A generation counter retires work of an abandoned epoch, so start_epoch() and the
// destructor never wait on the consumer, only on the batches being built right now.
#include "aft/data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "aft/core/error.h"
#include "aft/data/random.h"

namespace aft::data {

struct Loader::State {
  DatasetPtr dataset;
  std::vector<size_t> pool;
  TransformPtr transform;
  LoaderOptions options;

  std::mutex mutex;
  std::condition_variable work_cv, ready_cv;
  std::vector<std::thread> workers;
  bool stop = false;
  bool started = false;
  uint64_t generation = 0;
  // This shard's samples of an epoch: dataset index and position in the global order.
  // Shared so that workers still building a batch of an abandoned epoch keep theirs alive.
  struct Plan {
    uint64_t epoch = 0;
    std::vector<size_t> samples, positions;
  };
  std::shared_ptr<const Plan> plan;
  int64_t num_batches = 0, claimed = 0, yielded = 0;
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Result> ready;

  // Batch image tensors are recycled. A fresh [64,3,224,224] float tensor is 38 MB, above
  // glibc's largest mmap threshold (32 MiB), so each new one arrives as untouched pages from
  // the kernel and the first write to every page faults: measured, 40% of the loader's time
  // on 500x375 JPEGs. A buffer is handed out again only once nothing else refers to it, to its
  // tensor or to its storage (the consumer dropped the batch and every view of it).
  mutable std::mutex buffers_mutex;
  mutable std::vector<torch::Tensor> buffers;

  torch::Tensor image_buffer(int64_t n, int64_t s) const {
    if (options.pin_memory) return torch::empty({n, 3, s, s}, torch::TensorOptions(torch::kFloat32).pinned_memory(true));
    std::lock_guard<std::mutex> lock(buffers_mutex);
    for (const auto& t : buffers) {
      if (t.size(0) == n && t.use_count() == 1 && t.storage().use_count() == 1) return t;
    }
    auto fresh = torch::empty({n, 3, s, s}, torch::kFloat32);
    // Enough for every batch that can be alive at once: being built, waiting, and held by
    // the consumer (the current and the previous step's). Beyond that, plain allocations.
    const auto cap = static_cast<size_t>(options.threads + options.prefetch + 2);
    if (buffers.size() < cap) buffers.push_back(fresh);
    return fresh;
  }

  int64_t shard_size() const {
    const auto n = static_cast<int64_t>(pool.size());
    if (options.world <= 1) return n;
    if (!options.pad) return (n - options.rank + options.world - 1) / options.world;
    return (n + options.world - 1) / options.world;
  }

  int64_t count_batches(int64_t m) const {
    const int64_t b = options.batch_size;
    if (options.drop_last) return m / b;
    int64_t count = (m + b - 1) / b;
    if (options.shuffle && m % b == 1) --count;  // batch norm cannot train on one sample
    return count;
  }

  Batch build(int64_t k, const Plan& p) const {
    const int64_t b = options.batch_size;
    const int64_t first = k * b;
    const int64_t n = std::min<int64_t>(b, static_cast<int64_t>(p.samples.size()) - first);
    const int64_t s = transform->output_size();
    Batch batch;
    batch.images = image_buffer(n, s);
    batch.labels = torch::empty({n}, torch::TensorOptions(torch::kInt64).pinned_memory(options.pin_memory));
    float* images = batch.images.data_ptr<float>();
    int64_t* labels = batch.labels.data_ptr<int64_t>();
    const int64_t hint = transform->min_side_hint();
    for (int64_t i = 0; i < n; ++i) {
      const size_t index = p.samples[first + i];
      Rng rng(mix_seed(options.seed, p.epoch, p.positions[first + i]));
      const Image image = dataset->image_at_least(index, hint);
      transform->apply_to(image, rng, images + i * 3 * s * s);
      labels[i] = dataset->label(index);
      batch.indices.push_back(index);
    }
    return batch;
  }

  void worker_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      work_cv.wait(lock, [&] {
        return stop || (started && claimed < num_batches && claimed < yielded + options.prefetch);
      });
      if (stop) return;
      const int64_t k = claimed++;
      const uint64_t gen = generation;
      const std::shared_ptr<const Plan> p = plan;
      Result result;
      lock.unlock();
      try {
        result.batch = build(k, *p);
      } catch (...) {
        result.error = std::current_exception();
      }
      lock.lock();
      if (gen == generation) {
        ready[k] = std::move(result);
        ready_cv.notify_all();
      }
    }
  }
};

Loader::Loader(DatasetPtr dataset, std::vector<size_t> indices, TransformPtr transform,
               LoaderOptions options)
    : state_(std::make_unique<State>()) {
  check(dataset != nullptr && transform != nullptr, "Loader: dataset and transform are required");
  check(options.batch_size >= 1, "--batch-size must be >= 1, got ", options.batch_size);
  check(options.world >= 1 && options.rank >= 0 && options.rank < options.world,
        "Loader: rank ", options.rank, " outside world ", options.world);
  for (size_t i : indices) check(i < dataset->size(), "Loader: index ", i, " out of range");
  options.threads = std::max(1, options.threads);
  options.prefetch = std::max(1, options.prefetch);
  state_->dataset = std::move(dataset);
  state_->pool = std::move(indices);
  state_->transform = std::move(transform);
  state_->options = options;
  for (int t = 0; t < options.threads; ++t) state_->workers.emplace_back([s = state_.get()] { s->worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->work_cv.notify_all();
  for (auto& t : state_->workers) t.join();
}

void Loader::start_epoch(int64_t epoch) {
  State& s = *state_;
  const LoaderOptions& o = s.options;
  // The global order is the same on every rank; padding by wrap-around (as PyTorch's
  // DistributedSampler) gives every rank the same number of batches, so collectives match.
  std::vector<size_t> order = s.pool;
  if (o.shuffle && !o.sample_weights.empty()) {
    check(o.sample_weights.size() == s.pool.size(), "loader: ", o.sample_weights.size(), " sample weights for ",
          s.pool.size(), " indices");
    Rng rng(mix_seed(o.seed, 0x5A3Bull, static_cast<uint64_t>(epoch)));
    std::vector<double> cumulative;
    double total = 0;
    for (double w : o.sample_weights) cumulative.push_back(total += w);
    check(total > 0, "loader: the sample weights sum to ", total);
    for (auto& slot : order) {
      const double u = uniform01(rng) * total;
      const auto k = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
      slot = s.pool[std::min<size_t>(static_cast<size_t>(k), s.pool.size() - 1)];
    }
  } else if (o.shuffle) {
    Rng rng(mix_seed(o.seed, 0x0D3Eull, static_cast<uint64_t>(epoch)));
    shuffle(order, rng);
  }
  auto plan = std::make_shared<State::Plan>();
  plan->epoch = static_cast<uint64_t>(epoch);
  const int64_t per_rank = s.shard_size();
  for (int64_t j = 0; j < per_rank && !order.empty(); ++j) {
    const auto p = static_cast<size_t>(j * o.world + o.rank);
    plan->samples.push_back(order[p % order.size()]);
    plan->positions.push_back(p);
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    ++s.generation;
    s.num_batches = s.count_batches(static_cast<int64_t>(plan->samples.size()));
    s.plan = std::move(plan);
    s.claimed = s.yielded = 0;
    s.ready.clear();
    s.started = true;
  }
  s.work_cv.notify_all();
}

bool Loader::next(Batch& batch) {
  State& s = *state_;
  if (!s.started) start_epoch(0);
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.yielded >= s.num_batches) return false;
  s.ready_cv.wait(lock, [&] { return s.ready.count(s.yielded) > 0; });
  auto it = s.ready.find(s.yielded);
  if (it->second.error) {
    // Kept in place: calling next() again reports the same failure instead of skipping it.
    std::rethrow_exception(it->second.error);
  }
  batch = std::move(it->second.batch);
  s.ready.erase(it);
  ++s.yielded;
  lock.unlock();
  s.work_cv.notify_all();
  return true;
}

int64_t Loader::batches_per_epoch() const { return state_->count_batches(state_->shard_size()); }

int64_t Loader::samples_per_epoch() const {
  const int64_t m = state_->shard_size();
  return std::min(m, batches_per_epoch() * state_->options.batch_size);
}

}  // namespace aft::data
