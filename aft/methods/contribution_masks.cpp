#include "aft/methods/contribution_masks.h"

#include <torch/torch.h>

#include <cmath>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/data/loader.h"
#include "aft/train/trainer.h"

namespace aft::methods {

RatioLayout RatioLayout::build(const models::VisionModel& model, const std::string& level) {
  check(level == "unit" || level == "block" || level == "stage", "--ratio-groups ", level,
        ": expected one of unit|block|stage");
  RatioLayout layout;
  layout.level = level;
  layout.units = model.units(models::UnitLevel::layer);
  std::map<std::string, size_t> group_index;
  for (size_t u = 0; u < layout.units.size(); ++u) {
    const auto& unit = layout.units[u];
    const std::string& key = level == "unit" ? unit.name : level == "block" ? unit.block : unit.stage;
    auto [it, inserted] = group_index.emplace(key, layout.groups.size());
    if (inserted) layout.groups.push_back(key);
    layout.group_of_unit.push_back(it->second);
    for (const auto& p : unit.params) {
      check(!models::is_head_param(model, p), "unit ", unit.name, " holds head parameter ", p);
      layout.unit_of_param[p] = u;
    }
  }
  return layout;
}

std::vector<double> RatioLayout::unit_ratios(const std::vector<double>& group_ratios) const {
  check(group_ratios.size() == groups.size(), "contribution: ", group_ratios.size(), " ratios for ", groups.size(),
        " groups");
  std::vector<double> out;
  for (size_t g : group_of_unit) out.push_back(group_ratios[g]);
  return out;
}

namespace {

// Sums |w * g| (taylor) or g^2 (fisher) over a few shuffled training batches. The model is a
// throwaway copy, so its batch-norm statistics may move.
std::map<std::string, torch::Tensor> gradient_scores(models::VisionModel& model, bool taylor,
                                                     const train::TrainData& data, const train::TrainOptions& o,
                                                     int64_t batches) {
  const auto device = parse_device(o.device);
  model.to(device);
  model.train(true);
  data::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = true;
  lo.threads = static_cast<int>(o.workers);
  lo.seed = static_cast<uint64_t>(o.seed);
  data::Loader loader(data.splits.train, data.splits.train_indices, data.train_transform, lo);
  // An epoch number of its own keeps these batches independent of the training order.
  loader.start_epoch(-2);
  std::map<std::string, torch::Tensor> scores;
  data::Batch batch;
  int64_t done = 0;
  while (done < batches && loader.next(batch)) {
    model.zero_grad();
    auto logits = model.forward(batch.images.to(device));
    torch::nn::functional::cross_entropy(logits, batch.labels.to(device)).backward();
    torch::NoGradGuard no_grad;
    for (auto& p : model.named_parameters()) {
      if (models::is_head_param(model, p.key())) continue;
      const auto& g = p.value().grad();
      auto s = !g.defined() ? torch::zeros_like(p.value()) : taylor ? (p.value() * g).abs() : g.pow(2);
      auto it = scores.find(p.key());
      if (it == scores.end()) {
        scores.emplace(p.key(), s.detach().to(torch::kCPU, torch::kFloat64));
      } else {
        it->second.add_(s.to(torch::kCPU, torch::kFloat64));
      }
    }
    ++done;
  }
  check(done > 0, "contribution --criterion ", taylor ? "taylor" : "fisher", ": no training batch");
  model.zero_grad();
  return scores;
}

}  // namespace

std::map<std::string, torch::Tensor> contribution_scores(models::VisionModel& model, const std::string& criterion,
                                                         const train::TrainData* data,
                                                         const train::TrainOptions* options, int64_t batches) {
  if (criterion == "taylor" || criterion == "fisher") {
    check(data != nullptr && options != nullptr, "contribution --criterion ", criterion, " needs training data");
    check(batches >= 1, "--taylor-batches must be at least 1, got ", batches);
    return gradient_scores(model, criterion == "taylor", *data, *options, batches);
  }
  check(criterion == "value" || criterion == "magnitude", "--criterion ", criterion,
        ": expected one of value|magnitude|taylor|fisher");
  std::map<std::string, torch::Tensor> scores;
  for (auto& p : model.named_parameters()) {
    if (models::is_head_param(model, p.key())) continue;
    auto w = p.value().detach().to(torch::kCPU).clone();
    scores.emplace(p.key(), criterion == "value" ? w : w.abs());
  }
  return scores;
}

int64_t tuned_count(double ratio, int64_t numel) {
  const auto k = static_cast<int64_t>(std::floor(ratio * static_cast<double>(numel)));
  return std::clamp<int64_t>(k, 0, numel);
}

ContributionOrder::ContributionOrder(const std::map<std::string, torch::Tensor>& scores, bool highest) {
  for (const auto& [name, s] : scores) {
    auto sorted = torch::sort(s.flatten(), /*stable=*/true, /*dim=*/0, /*descending=*/highest);
    order_[name] = {std::get<1>(sorted).contiguous(), s.sizes().vec()};
    ++sorts_;
  }
}

int64_t ContributionOrder::numel(const std::string& name) const {
  auto it = order_.find(name);
  check(it != order_.end(), "contribution: no order for parameter ", name);
  return it->second.order.numel();
}

torch::Tensor ContributionOrder::mask(const std::string& name, double ratio) const {
  auto it = order_.find(name);
  check(it != order_.end(), "contribution: no order for parameter ", name);
  const auto& e = it->second;
  auto flat = torch::zeros({e.order.numel()}, torch::kBool);
  const int64_t k = tuned_count(ratio, e.order.numel());
  if (k > 0) flat.index_fill_(0, e.order.slice(0, 0, k), true);
  return flat.view(e.shape);
}

}  // namespace aft::methods
