// Root parsing, optional validation of every image (--skip-bad), then the stratified split.
#include "aft/data/splits.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <thread>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/data/cached_dataset.h"
#include "aft/data/decathlon_dataset.h"
#include "aft/data/idx_dataset.h"
#include "aft/data/image_folder.h"
#include "aft/data/random.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

std::string idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    if (stdfs::exists(stdfs::path(dir) / name)) return (stdfs::path(dir) / name).string();
  }
  fail(dir, ": missing ", stem, "(.gz) (install Debian's dataset-fashion-mnist)");
}

void open_fashion_mnist(const std::string& dir, Splits& s) {
  s.train = std::make_shared<IdxDataset>(idx_file(dir, "train-images-idx3-ubyte"),
                                         idx_file(dir, "train-labels-idx1-ubyte"), fashion_mnist_classes());
  s.test = std::make_shared<IdxDataset>(idx_file(dir, "t10k-images-idx3-ubyte"),
                                        idx_file(dir, "t10k-labels-idx1-ubyte"), fashion_mnist_classes());
}

void open_decathlon_root(const std::string& spec, Splits& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    parts.push_back(spec.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  check(parts.size() == 2 || parts.size() == 3,
        "decathlon root must be decathlon:TRAIN_JSON,TEST_JSON[,IMAGE_ROOT], got 'decathlon:", spec, "'");
  const std::string root = parts.size() == 3 ? parts[2] : default_decathlon_image_root(parts[0]);
  const DecathlonCategories categories = read_decathlon_categories(parts[0]);
  s.train = open_decathlon(parts[0], root, categories);
  s.test = open_decathlon(parts[1], root, categories);
}

void open_folder_root(const std::string& root, Splits& s) {
  check(stdfs::is_directory(root), root, ": no such data directory");
  const std::string train_dir = (stdfs::path(root) / "train").string();
  check(stdfs::is_directory(train_dir), root, ": missing train/ folder (expected ROOT/train/<class>/*)");
  std::string test_dir = (stdfs::path(root) / "test").string();
  if (!stdfs::is_directory(test_dir)) {
    const std::string val_dir = (stdfs::path(root) / "val").string();
    check(stdfs::is_directory(val_dir), root, ": missing test/ (or val/) folder");
    log::info("data: " + root + " has no test/ folder; using val/ as the test split");
    test_dir = val_dir;
  }
  const std::vector<std::string> classes = list_class_folders(train_dir);
  std::vector<std::string> unknown;
  for (const auto& c : list_class_folders(test_dir)) {
    if (!std::binary_search(classes.begin(), classes.end(), c)) unknown.push_back(c);
  }
  if (!unknown.empty()) {
    std::string names;
    for (const auto& u : unknown) names += (names.empty() ? "" : ", ") + u;
    fail(test_dir, ": classes not present in train/: ", names);
  }
  s.train = open_image_folder(train_dir, classes, false);
  s.test = open_image_folder(test_dir, classes, true);
}

// Decodes every image once (in parallel) and returns the indices that decode.
std::vector<size_t> readable_indices(const Dataset& d, std::vector<std::string>& skipped) {
  std::vector<char> ok(d.size(), 1);
  std::atomic<size_t> next{0};
  std::mutex mutex;
  auto work = [&] {
    for (size_t i = next++; i < d.size(); i = next++) {
      try {
        d.image(i);
      } catch (const Error& e) {
        ok[i] = 0;
        std::lock_guard<std::mutex> lock(mutex);
        log::warn(std::string("data: skipping unreadable image: ") + e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  const unsigned n = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  for (unsigned t = 0; t < n; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  std::vector<size_t> good;
  for (size_t i = 0; i < d.size(); ++i) {
    if (ok[i]) good.push_back(i);
    else skipped.push_back(d.describe(i));
  }
  return good;
}

std::vector<size_t> all_indices(const Dataset& d) {
  std::vector<size_t> v(d.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

}  // namespace

std::pair<std::vector<size_t>, std::vector<size_t>> stratified_split(
    const Dataset& dataset, const std::vector<size_t>& pool, double val_fraction, int64_t shots,
    uint64_t seed) {
  check(val_fraction >= 0.0 && val_fraction < 1.0, "--val-fraction must be in [0, 1), got ", val_fraction);
  check(shots >= 0, "--shots must be >= 0, got ", shots);
  std::vector<std::vector<size_t>> by_class(dataset.classes().size());
  for (size_t i : pool) by_class.at(static_cast<size_t>(dataset.label(i))).push_back(i);
  std::vector<size_t> train, val;
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& members = by_class[c];
    std::sort(members.begin(), members.end());
    std::mt19937_64 rng(mix_seed(seed, 0x5B1175ull, c));  // per class: adding a class moves no other
    shuffle(members, rng);
    const auto n = static_cast<int64_t>(members.size());
    auto n_val = static_cast<int64_t>(std::floor(n * val_fraction + 0.5));
    // A singleton class stays in train: validation cannot take a class's only example.
    n_val = n >= 2 && val_fraction > 0 ? std::clamp<int64_t>(n_val, 1, n - 1) : 0;
    val.insert(val.end(), members.begin(), members.begin() + n_val);
    int64_t n_train = n - n_val;
    if (shots > 0) {
      if (n_train < shots) {
        log::warn("data: class '" + dataset.classes()[c] + "' has only " + std::to_string(n_train) +
                  " training images for --shots " + std::to_string(shots));
      }
      n_train = std::min(n_train, shots);
    }
    train.insert(train.end(), members.begin() + n_val, members.begin() + n_val + n_train);
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {train, val};
}

Splits open_splits(const DataOptions& options) {
  Splits s;
  s.options = options;
  const std::string& root = options.root;
  check(!root.empty(), "no data root given (--data)");
  if (root == "fashion-mnist" || root.rfind("fashion-mnist:", 0) == 0) {
    open_fashion_mnist(root.size() > 14 ? root.substr(14) : kFashionMnistDir, s);
  } else if (root.rfind("decathlon:", 0) == 0) {
    open_decathlon_root(root.substr(10), s);
  } else {
    open_folder_root(root, s);
  }
  s.classes = s.train->classes();
  // One class makes every prediction right: an accuracy of 1.0 that says nothing.
  check(s.classes.size() >= 2, root, ": the training split has ", s.classes.size(),
        " class folder(s); a classifier needs at least 2");
  // IDX data already lives in memory; caching only pays off for files that need decoding.
  if (options.cache && std::dynamic_pointer_cast<IdxDataset>(s.train) == nullptr) {
    s.train = std::make_shared<CachedDataset>(s.train);
    s.test = std::make_shared<CachedDataset>(s.test);
  }
  std::vector<size_t> pool = all_indices(*s.train);
  s.test_indices = all_indices(*s.test);
  if (options.skip_bad) {
    pool = readable_indices(*s.train, s.skipped);
    s.test_indices = readable_indices(*s.test, s.skipped);
    if (!s.skipped.empty()) log::warn("data: skipped " + std::to_string(s.skipped.size()) + " unreadable images");
  }
  check(!pool.empty(), root, ": the training split has no readable images");
  check(!s.test_indices.empty(), root, ": the test split has no readable images");
  std::tie(s.train_indices, s.val_indices) =
      stratified_split(*s.train, pool, options.val_fraction, options.shots, options.seed);
  return s;
}

nlohmann::json Splits::describe() const {
  auto per_class = [&](const Dataset& d, const std::vector<size_t>& idx) {
    std::vector<int64_t> counts(classes.size(), 0);
    for (size_t i : idx) ++counts.at(static_cast<size_t>(d.label(i)));
    return counts;
  };
  nlohmann::json j;
  j["root"] = options.root;
  j["val_fraction"] = options.val_fraction;
  j["shots"] = options.shots;
  j["seed"] = options.seed;
  j["cache"] = options.cache;
  j["skip_bad"] = options.skip_bad;
  j["classes"] = classes;
  j["num_classes"] = classes.size();
  j["train"] = train_indices.size();
  j["val"] = val_indices.size();
  j["test"] = test_indices.size();
  j["train_per_class"] = per_class(*train, train_indices);
  j["val_per_class"] = per_class(*train, val_indices);
  j["test_per_class"] = per_class(*test, test_indices);
  j["skipped_unreadable"] = skipped.size();
  if (!skipped.empty()) j["skipped_files"] = skipped;
  return j;
}

}  // namespace aft::data
