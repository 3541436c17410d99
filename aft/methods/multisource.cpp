#include "aft/methods/multisource.h"

#include <torch/torch.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/methods/contribution_search.h"
#include "aft/models/source.h"
#include "aft/models/weights.h"
#include "aft/dist/process_group.h"
#include "aft/search/parallel.h"
#include "aft/search/proxy.h"
#include "aft/search/pso.h"
#include "aft/train/trainer.h"

namespace aft::methods {

torch::Tensor collaborative_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels, double lambda,
                                 const LossFn& task_loss) {
  check(!logits.empty(), "collaborative_loss: no logits");
  auto loss = task_loss(logits[0], labels);
  for (size_t j = 1; j < logits.size(); ++j) loss = loss + task_loss(logits[j], labels);
  if (lambda == 0) return loss;
  const auto stacked = torch::stack(logits);  // [N, B, C]
  const auto mean = stacked.mean(0, true);
  // Plain L2 norm per sample and source, averaged over sources, then over the batch.
  const auto spread = (stacked - mean).norm(2, {2}).mean(0).mean();
  return loss + lambda * spread;
}

SourceEnsemble::SourceEnsemble(std::vector<models::ModelPtr> members) : members_(std::move(members)) {
  torch::nn::ModuleList list;
  for (const auto& m : members_) list->push_back(m);
  register_module("sources", list);
}

std::vector<torch::Tensor> SourceEnsemble::all_logits(const torch::Tensor& images) {
  std::vector<torch::Tensor> out;
  out.reserve(members_.size());
  for (auto& m : members_) out.push_back(m->forward(images));
  return out;
}

MultiSourceMethod::MultiSourceMethod(MultiSourceOptions options) : options_(std::move(options)) {
  for (const auto& s : options_.sources) specs_.push_back(parse_source(s));
  if (!options_.frozen.empty()) frozen_ = parse_frozen(options_.frozen);
}

std::string MultiSourceMethod::own_model_arch() const {
  if (specs_.empty()) return "";
  models::ModelOptions o;
  o.model = specs_.front().arch;
  try {
    return models::resolve_arch(o, models::resolve_weights_path(specs_.front().weights));
  } catch (const Error& e) {
    fail("--source ", options_.sources.front(), ": ", e.what());
  }
}

void MultiSourceMethod::resolve_sources(int64_t classes, int64_t image_size) {
  if (!configs_.empty()) return;
  for (size_t j = 0; j < specs_.size(); ++j) {
    models::ModelOptions o;
    o.model = specs_[j].arch;
    try {
      configs_.push_back(models::resolve_model_config(o, specs_[j].weights, classes, image_size));
      unit_counts_.push_back(static_cast<int64_t>(models::build_model(configs_.back())->units(models::UnitLevel::layer).size()));
    } catch (const Error& e) {
      fail("--source ", options_.sources[j], ": ", e.what());
    }
  }
  if (!frozen_.empty()) {
    for (size_t j = 0; j < frozen_.size(); ++j) {
      check(frozen_[j] <= unit_counts_[j], "--frozen: source ", j, " (", configs_[j].arch, ") has ", unit_counts_[j],
            " layer units; cannot freeze ", frozen_[j]);
    }
  }
}

void MultiSourceMethod::set_frozen(std::vector<int64_t> k) {
  check(k.size() == specs_.size(), "multisource: ", k.size(), " frozen counts for ", specs_.size(), " sources");
  frozen_ = std::move(k);
}

void MultiSourceMethod::setup_cache(const train::TrainData* data) {
  if (options_.cache_frozen == "off") return;
  if (data == nullptr || !data->train_transform) {
    cache_state_ = "off (no task data)";
  } else if (data->train_transform->random()) {
    cache_state_ = "off: the training transform augments (" + data->train_transform->describe() + ")";
  } else {
    cache_ = std::make_shared<PrefixCache>(options_.cache_mb << 20);
    cache_state_ = "on";
  }
}

int64_t MultiSourceMethod::cacheable_pieces(models::VisionModel& member) const {
  if (!cache_) return 0;
  const auto params = member.named_parameters(true);
  const auto buffers = member.named_buffers(true);
  int64_t pieces = 0;
  for (int64_t i = 0; i < member.piece_count(); ++i) {
    bool any = false, fixed = true;
    for (const auto& p : params) {
      if (!member.in_piece(p.key(), i)) continue;
      any = true;
      fixed = fixed && !p.value().requires_grad();
    }
    // Batch norms that update their statistics in train mode change the piece every step.
    for (const auto& b : buffers) {
      const auto& name = b.key();
      const bool stats = name.size() > 13 && name.compare(name.size() - 13, 13, ".running_mean") == 0;
      if (stats && member.in_piece(name, i) && !options_.freeze_bn_stats) fixed = false;
    }
    if (!any || !fixed) break;
    pieces = i + 1;
  }
  return pieces;
}

std::vector<torch::Tensor> MultiSourceMethod::all_logits(const torch::Tensor& images) {
  if (!cache_) return ensemble_->all_logits(images);
  std::vector<torch::Tensor> out;
  const auto& members = ensemble_->members();
  for (size_t j = 0; j < members.size(); ++j) {
    auto& m = *members[j];
    const int64_t c = cached_pieces_[j];
    if (c == 0) {
      out.push_back(m.forward(images));
      continue;
    }
    const auto prefix = cache_->run(m, static_cast<int64_t>(j), c, images);
    out.push_back(m.head(m.trunk_end(m.run_pieces(prefix, c, m.piece_count()))));
  }
  return out;
}

void MultiSourceMethod::prepare(PrepareContext& context) {
  resolve_sources(context.num_classes, context.image_size);
  setup_cache(context.data);
  if (!frozen_.empty()) return;
  check(context.data != nullptr && context.train_options != nullptr, "multisource search: no task data");
  check(!context.data->splits.val_indices.empty(),
        "multisource search: the fitness needs a validation split (--val-fraction > 0)");
  const auto budget = resolve_budget(options_);
  const auto& run = *context.train_options;
  const auto data = search::proxy_data(*context.data, budget.proxy_fraction, static_cast<uint64_t>(run.seed));
  const auto recipe = search::proxy_options(run, budget.proxy_epochs);

  std::vector<search::PsoDimension> dims;
  for (size_t j = 0; j < specs_.size(); ++j) {
    // One unit always trains (the reference searches k in [0, 48] of ResNet-50's 49 convs).
    dims.push_back({"source" + std::to_string(j) + " " + configs_[j].arch, 0.0,
                    static_cast<double>(unit_counts_[j] - 1), 5.0});
  }
  auto pso_options = search::reference_pso_options(budget.particles, budget.iterations, budget.early_stop_margin,
                                                 static_cast<uint64_t>(run.seed), options_.pso_order, context.dist.get());
  pso_options.journal = context.journal("multisource");
  pso_options.journal_writer = context.search_writer;

  auto to_k = [&](const std::vector<double>& x) {
    std::vector<int64_t> k;
    for (size_t j = 0; j < x.size(); ++j) {
      k.push_back(std::clamp<int64_t>(static_cast<int64_t>(std::floor(x[j])), 0, unit_counts_[j] - 1));
    }
    return k;
  };
  const int64_t total = budget.particles * (budget.iterations + 1);
  auto fitness = [&](const std::vector<double>& position, const search::EvalInfo& info) {
    MultiSourceMethod proxy(options_);
    proxy.configs_ = configs_;
    proxy.unit_counts_ = unit_counts_;
    proxy.set_frozen(to_k(position));
    proxy.cache_ = cache_;
    proxy.cache_state_ = cache_state_;
    proxy.build_own_model({context.num_classes, context.image_size, true, static_cast<uint64_t>(run.seed)});
    return search::proxy_fitness(proxy, recipe, data, info);
  };
  search::Pso pso(dims, pso_options);
  pso.on_evaluation = [&](const search::PsoEvaluation& e, const search::PsoResult& r) {
    if (context.quiet) return;
    std::string k = "frozen";
    for (auto v : to_k(e.position)) k += " " + std::to_string(v);
    log::info(search::evaluation_line(e, r, total, k));
  };
  const auto result = pso.run_batched(search::spread_over_ranks(context.dist, fitness));
  frozen_ = to_k(result.gbest_position);
  if (result.gbest_fitness <= pso_options.initial_gbest_fitness) {
    log::warn("multisource search: no particle reached a validation accuracy above 0; using its gbest position anyway");
  }

  search_ = search::pso_search_report(result, pso_options, budget.proxy_epochs, budget.proxy_fraction, data,
                                      context.dist ? context.dist->world() : 1, "position",
                              [&](const search::PsoEvaluation& e, nlohmann::json& j) { j["frozen"] = to_k(e.position); });
  search_["preset"] = options_.search_preset;
  search_["gbest_position"] = result.gbest_position;
  search_["gbest_frozen"] = frozen_;
}

nlohmann::json MultiSourceMethod::prepared_state() const {
  return {{"frozen", frozen_}, {"search", search_}};
}

void MultiSourceMethod::restore_prepared(const nlohmann::json& state, PrepareContext& context) {
  resolve_sources(context.num_classes, context.image_size);
  setup_cache(context.data);
  const auto frozen = state.at("frozen").get<std::vector<int64_t>>();
  check(frozen.size() == specs_.size(), "prepared.json: ", frozen.size(), " frozen counts for ", specs_.size(),
        " sources");
  set_frozen(frozen);
  search_ = state.at("search");
}

void MultiSourceMethod::build_own_model(const OwnModelSpec& spec) {
  resolve_sources(spec.num_classes, spec.image_size);
  if (frozen_.empty()) frozen_.assign(specs_.size(), 0);  // reopened runs: weights decide, k only names groups
  std::vector<models::ModelPtr> members;
  for (size_t j = 0; j < specs_.size(); ++j) {
    // Every source draws its new head from the run's seed, exactly as a single-source
    // fine-tune with that seed would: with lambda = 0 each member trains as it would alone.
    torch::manual_seed(spec.seed);
    auto m = models::build_model(configs_[j]);
    if (spec.pretrained) {
      models::LoadOptions load;
      load.replace_head = true;
      models::load_weights(*m, specs_[j].weights, load);
    }
    members.push_back(m);
  }
  ensemble_ = std::make_shared<SourceEnsemble>(members);

  first_tuned_.clear();
  frozen_norms_.clear();
  cached_pieces_.clear();
  for (size_t j = 0; j < members.size(); ++j) {
    const auto& m = members[j];
    const auto units = m->units(models::UnitLevel::layer);
    const auto k = static_cast<size_t>(frozen_[j]);
    first_tuned_.push_back(k < units.size() ? units[k].name : "(head only)");
    std::set<std::string> frozen;
    for (size_t u = 0; u < k && u < units.size(); ++u) frozen.insert(units[u].params.begin(), units[u].params.end());
    for (auto& p : m->named_parameters(true)) p.value().set_requires_grad(!frozen.count(p.key()));
    if (!options_.freeze_bn_stats) continue;
    for (const auto& mod : m->named_modules("", false)) {
      if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(mod.value().get()) && frozen.count(mod.key() + ".weight")) {
        frozen_norms_.push_back(mod.value());
      }
    }
  }
  for (const auto& m : members) cached_pieces_.push_back(cacheable_pieces(*m));
}

std::vector<std::string> MultiSourceMethod::inputs() const {
  std::vector<std::string> out;
  for (const auto& s : options_.sources) out.push_back(parse_source(s).weights);
  return out;
}

std::map<std::string, std::string> MultiSourceMethod::own_model_metadata() const {
  nlohmann::json sources = nlohmann::json::array();
  std::string name;
  for (size_t j = 0; j < configs_.size(); ++j) {
    sources.push_back({{"model", configs_[j].to_json()}, {"weights", specs_[j].weights}, {"frozen", frozen_[j]}});
    name += (j ? "+" : "") + configs_[j].arch;
  }
  return {{"aft.model", name}, {"aft.sources", sources.dump()}, {"num_classes", std::to_string(configs_[0].num_classes)}};
}

std::vector<ParamGroup> MultiSourceMethod::param_groups() {
  check(ensemble_ != nullptr, "multisource: no ensemble built");
  std::vector<ParamGroup> groups;
  for (size_t j = 0; j < ensemble_->members().size(); ++j) {
    ParamGroup g;
    g.name = "source" + std::to_string(j);
    for (auto& p : ensemble_->members()[j]->parameters()) {
      if (p.requires_grad()) g.params.push_back(p);
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

torch::Tensor MultiSourceMethod::predict(const torch::Tensor& images) {
  auto logits = all_logits(images);
  auto sum = logits[0];
  for (size_t j = 1; j < logits.size(); ++j) sum = sum + logits[j];
  return sum;
}

StepOutput MultiSourceMethod::train_step(const torch::Tensor& images, const torch::Tensor& labels,
                                         const LossFn& task_loss) {
  auto logits = all_logits(images);
  auto loss = collaborative_loss(logits, labels, options_.collab_weight, task_loss);
  auto sum = logits[0].detach();
  for (size_t j = 1; j < logits.size(); ++j) sum = sum + logits[j].detach();
  return {loss, sum};
}

std::vector<std::shared_ptr<torch::nn::Module>> MultiSourceMethod::eval_modules() { return frozen_norms_; }

void MultiSourceMethod::on_evaluate_start(const std::string& split) {
  eval_split_ = split;
  if (split != "test") return;
  member_correct_.assign(ensemble_->members().size(), 0);
  ensemble_correct_ = 0;
  eval_seen_ = 0;
}

torch::Tensor MultiSourceMethod::evaluate_batch(const torch::Tensor& images, const torch::Tensor& labels) {
  const auto logits = all_logits(images);
  auto sum = logits[0];
  for (size_t j = 1; j < logits.size(); ++j) sum = sum + logits[j];
  if (eval_split_ != "test") return sum;
  for (size_t j = 0; j < logits.size(); ++j) member_correct_[j] += logits[j].argmax(1).eq(labels).sum().item<int64_t>();
  ensemble_correct_ += sum.to(torch::kFloat32).argmax(1).eq(labels).sum().item<int64_t>();
  eval_seen_ += labels.size(0);
  member_test_accuracy_.clear();
  for (auto c : member_correct_) member_test_accuracy_.push_back(static_cast<double>(c) / eval_seen_);
  ensemble_test_accuracy_ = static_cast<double>(ensemble_correct_) / eval_seen_;
  return sum;
}

std::string MultiSourceMethod::table() const {
  std::ostringstream out;
  out << std::left << std::setw(8) << "source" << std::setw(12) << "arch" << std::right << std::setw(8) << "frozen"
      << "  " << std::left << std::setw(22) << "first tuned unit" << std::right << std::setw(10) << "test acc" << "\n";
  for (size_t j = 0; j < configs_.size(); ++j) {
    out << std::left << std::setw(8) << j << std::setw(12) << configs_[j].arch << std::right << std::setw(8)
        << (j < frozen_.size() ? frozen_[j] : 0) << "  " << std::left << std::setw(22)
        << (j < first_tuned_.size() ? first_tuned_[j] : "") << std::right << std::setw(10) << std::fixed
        << std::setprecision(4);
    if (j < member_test_accuracy_.size()) {
      out << member_test_accuracy_[j];
    } else {
      out << "-";
    }
    out << "\n";
  }
  out << std::left << std::setw(50) << "ensemble (summed logits)" << std::right << std::setw(10);
  if (ensemble_test_accuracy_ >= 0) {
    out << ensemble_test_accuracy_;
  } else {
    out << "-";
  }
  return out.str();
}

nlohmann::json MultiSourceMethod::report() {
  nlohmann::json sources = nlohmann::json::array();
  for (size_t j = 0; j < configs_.size(); ++j) {
    nlohmann::json s = {{"source", options_.sources[j]},
                        {"arch", configs_[j].arch},
                        {"weights", specs_[j].weights},
                        {"layer_units", unit_counts_[j]},
                        {"frozen", frozen_[j]},
                        {"first_tuned_unit", first_tuned_[j]},
                        {"trainable_params", count_params(*ensemble_->members()[j], true)}};
    if (j < member_test_accuracy_.size()) s["test_accuracy"] = member_test_accuracy_[j];
    sources.push_back(s);
  }
  // Totals over the search's proxies and the final training, which share the cache.
  nlohmann::json cache = {{"state", cache_state_}, {"cached_pieces", cached_pieces_}};
  if (cache_) {
    const auto& s = cache_->stats();
    cache["hits"] = s.hits;
    cache["misses"] = s.misses;
    cache["entries"] = s.entries;
    cache["megabytes"] = static_cast<double>(s.bytes) / (1 << 20);
  }
  nlohmann::json r = {{"sources", sources},
                      {"frozen_cache", cache},
                      {"collab_weight", options_.collab_weight},
                      {"freeze_bn_stats", options_.freeze_bn_stats},
                      {"frozen_given", !options_.searches()},
                      {"table", table()}};
  if (ensemble_test_accuracy_ >= 0) r["ensemble_test_accuracy"] = ensemble_test_accuracy_;
  if (!search_.is_null()) r["search"] = search_;
  return r;
}

MethodInfo multisource_method() {
  return {"multisource",
          "AMCF: several source models fine-tuned together with a collaborative loss; PSO picks frozen layers per source",
          [] { return std::make_unique<MultiSourceOptions>(); },
          [](const Options& o) { return std::make_shared<MultiSourceMethod>(dynamic_cast<const MultiSourceOptions&>(o)); },
          [](Options& o) {
            auto& m = dynamic_cast<MultiSourceOptions&>(o);
            m.search_preset = "fast";
            m.particles = 3;
            m.iterations = 1;
            m.proxy_epochs = 1;
          },
          [](Options& o, const std::vector<std::string>& sources) {
            dynamic_cast<MultiSourceOptions&>(o).sources = sources;
          }};
}

}  // namespace aft::methods
