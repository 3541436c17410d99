// The soup's building blocks: reading and checking ingredients, averaging states, and the
// greedy recipe. make_soup (soup_run.cpp) puts them together with data and evaluation.
#include "aft/methods/soup.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/models/safetensors.h"
#include "aft/train/run_dir.h"

namespace aft::methods {
namespace {

// Size and FNV-1a hash of a file's bytes: two paths are the same pretrained start only if their
// contents are, and one path may have been overwritten since a run used it.
std::string fingerprint(const std::string& path) {
  static std::map<std::string, std::string> cache;
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "soup: cannot read the pretrained weights ", path, " to compare ingredients' starting points");
  uint64_t hash = 1469598103934665603ULL, size = 0;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<size_t>(in.gcount());
    for (size_t i = 0; i < n; ++i) hash = (hash ^ static_cast<uint8_t>(buffer[i])) * 1099511628211ULL;
    size += n;
  }
  return cache[path] = std::to_string(size) + " bytes, fnv1a " + std::to_string(hash);
}

std::string value_at(const nlohmann::json& config, const nlohmann::json::json_pointer& key) {
  return config.contains(key) ? config.at(key).dump() : "(unset)";
}

}  // namespace

Ingredient read_ingredient(const std::string& run) {
  Ingredient in;
  in.run = run;
  in.config = train::read_finished_config(run);
  in.state = safetensors::read(run + "/model.safetensors").tensors;
  return in;
}

void check_ingredients(const std::vector<Ingredient>& ingredients) {
  check(!ingredients.empty(), "soup: no ingredients (--runs)");
  const auto& first = ingredients.front();
  for (size_t i = 1; i < ingredients.size(); ++i) {
    const auto& other = ingredients[i];
    const auto differ = [&](const char* pointer, const char* what) {
      const nlohmann::json::json_pointer key(pointer);
      check(value_at(other.config, key) == value_at(first.config, key), "soup: ", other.run, " has ", what, " ",
            value_at(other.config, key), " but ", first.run, " has ", value_at(first.config, key),
            " (ingredients must share architecture, pretrained start, head and data)");
    };
    differ("/model/arch", "architecture (model.arch)");
    differ("/model/stem", "stem (model.stem)");
    differ("/model/width", "width (model.width)");
    differ("/model/image_size", "image size (model.image_size)");
    differ("/model/num_classes", "head size (model.num_classes)");
    differ("/classes", "classes");
    differ("/transform", "transform");
    differ("/train/val-fraction", "validation split (train.val-fraction)");
    differ("/train/seed", "validation split seed (train.seed)");
    differ("/train/shots", "shots (train.shots)");
    const std::string w0 = first.config.value("weights", ""), w1 = other.config.value("weights", "");
    check(!w0.empty() && !w1.empty(), "soup: ", w0.empty() ? first.run : other.run,
          " has no pretrained start (trained from scratch); soups average fine-tuned runs of one pretrained model");
    if (w0 != w1) {
      const auto f0 = fingerprint(w0), f1 = fingerprint(w1);
      check(f0 == f1, "soup: ", other.run, " starts from pretrained weights ", w1, " (", f1, ") but ", first.run,
            " from ", w0, " (", f0, ")");
    }
    for (const auto& [key, tensor] : first.state) {
      auto it = other.state.find(key);
      check(it != other.state.end(), "soup: ", other.run, "/model.safetensors has no tensor ", key, " which ", first.run,
            " has (method ", other.config.value("method", "?"), " vs ", first.config.value("method", "?"), ")");
      check(it->second.sizes() == tensor.sizes(), "soup: ", key, " has shape ", it->second.sizes(), " in ", other.run,
            " but ", tensor.sizes(), " in ", first.run);
    }
    for (const auto& [key, tensor] : other.state) {
      check(first.state.count(key), "soup: ", other.run, "/model.safetensors has tensor ", key, " which ", first.run,
            " has not (method ", other.config.value("method", "?"), " vs ", first.config.value("method", "?"), ")");
    }
  }
}

models::TensorMap average_states(const std::vector<const models::TensorMap*>& states) {
  check(!states.empty(), "average_states: no states");
  models::TensorMap out;
  torch::NoGradGuard no_grad;
  for (const auto& [key, first] : *states.front()) {
    bool same = true;
    for (size_t i = 1; i < states.size() && same; ++i) same = torch::equal(states[i]->at(key), first);
    // Identical tensors (frozen in every ingredient) are copied, not averaged: a float mean of
    // equal values can still round differently.
    if (same || !first.is_floating_point()) {
      out[key] = first.clone();
      continue;
    }
    auto sum = torch::zeros(first.sizes(), first.options().dtype(torch::kFloat64));
    for (const auto* s : states) sum += s->at(key).to(torch::kFloat64);
    out[key] = (sum / static_cast<double>(states.size())).to(first.scalar_type());
  }
  return out;
}

GreedyResult greedy_soup(const std::vector<double>& val_accuracy,
                         const std::function<double(const std::vector<size_t>&)>& soup_val) {
  check(!val_accuracy.empty(), "greedy soup: no ingredients");
  std::vector<size_t> order(val_accuracy.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val_accuracy[a] > val_accuracy[b]; });
  GreedyResult result;
  // A soup of one is the ingredient itself, whose accuracy is known.
  result.kept = {order.front()};
  result.val_accuracy = val_accuracy[order.front()];
  result.steps.push_back({{"ingredient", order.front()}, {"val_accuracy", result.val_accuracy}, {"kept", true}});
  for (size_t i = 1; i < order.size(); ++i) {
    auto candidate = result.kept;
    candidate.push_back(order[i]);
    const double accuracy = soup_val(candidate);
    const bool keep = accuracy >= result.val_accuracy;
    result.steps.push_back({{"ingredient", order[i]}, {"val_accuracy", accuracy}, {"kept", keep}});
    if (keep) {
      result.kept = candidate;
      result.val_accuracy = accuracy;
    }
  }
  return result;
}

}  // namespace aft::methods
