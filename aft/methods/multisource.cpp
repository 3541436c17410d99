#include "aft/methods/multisource.h"

#include <torch/torch.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/methods/contribution_search.h"
#include "aft/methods/job.h"
#include "aft/models/weights.h"
#include "aft/dist/process_group.h"
#include "aft/search/parallel.h"
#include "aft/search/pso.h"
#include "aft/train/trainer.h"

namespace aft::methods {

void MultiSourceOptions::visit(OptionVisitor& v) {
  v.field("source", "a source model, ARCH=WEIGHTS or WEIGHTS (arch from its metadata); give it once per source (N >= 2)",
          sources);
  v.field("frozen", "frozen layer units per source, K1,K2,... (0 = fully tuned); empty: searched by PSO", frozen);
  v.field("collab-weight", "lambda, weight of the collaborative term (0: the sources train independently)",
          collab_weight);
  v.field("freeze-bn-stats", "frozen units' batch norms keep their running statistics (the reference updates them)",
          freeze_bn_stats);
  v.field("search-preset", "paper (10 particles, 5 iterations, 5 proxy epochs) | fast (4, 2, 2 on half the data, pruning)",
          search_preset);
  v.field("particles", "PSO particles (0: the preset's)", particles);
  v.field("iterations", "PSO iterations after the initial swarm (-1: the preset's)", iterations);
  v.field("proxy-epochs", "epochs of each fitness run (0: the preset's)", proxy_epochs);
  v.field("proxy-fraction", "fraction of the training split each fitness run uses (0: the preset's)", proxy_fraction);
  v.field("early-stop-margin",
          "stop a fitness run whose validation accuracy falls this far behind gbest's at the same epoch "
          "(<0: the preset's; >=1: never)",
          early_stop_margin);
  v.field("pso-order",
          "sequential (the reference: each particle sees the gbest of the one before) | synchronous "
          "(one iteration's particles evaluated in parallel over the processes) | auto (synchronous with several "
          "processes)",
          pso_order);
}

namespace {

std::vector<int64_t> parse_frozen(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t k = -1;
    try {
      k = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && !item.empty() && k >= 0, "--frozen ", text, ": '", item,
          "' is not a non-negative integer");
    out.push_back(k);
  }
  return out;
}

}  // namespace

void MultiSourceOptions::validate() const {
  check(sources.size() >= 2, "--method multisource needs at least two --source ARCH=WEIGHTS (got ", sources.size(), ")");
  if (!frozen.empty()) {
    const auto k = parse_frozen(frozen);
    check(k.size() == sources.size(), "--frozen ", frozen, " gives ", k.size(), " counts for ", sources.size(),
          " sources");
  }
  check(collab_weight >= 0 && std::isfinite(collab_weight), "--collab-weight ", collab_weight, ": expected >= 0");
  check_choice("--search-preset", search_preset, {"paper", "fast"});
  check(proxy_fraction >= 0 && proxy_fraction <= 1, "--proxy-fraction ", proxy_fraction, ": expected (0, 1]");
  check_choice("--pso-order", pso_order, {"auto", "sequential", "synchronous"});
}

SourceSpec parse_source(const std::string& text) {
  SourceSpec s;
  const auto eq = text.find('=');
  if (eq != std::string::npos && eq > 0 && !fs::exists(text)) {
    s.arch = text.substr(0, eq);
    s.weights = text.substr(eq + 1);
  } else {
    s.weights = text;
  }
  check(!s.weights.empty(), "--source ", text, ": no weights file");
  if (fs::is_directory(s.weights)) s.weights += "/model.safetensors";
  check(fs::exists(s.weights), "--source ", text, ": no such file ", s.weights);
  return s;
}

MultiSourceBudget resolve_budget(const MultiSourceOptions& o) {
  MultiSourceBudget b;
  // fast: 12 evaluations of at most 2 epochs on half the data, hopeless ones pruned —
  // at most 24 proxy epochs against the paper's 300.
  if (o.search_preset == "fast") b = {4, 2, 2, 0.5, 0.05};
  if (o.particles > 0) b.particles = o.particles;
  if (o.iterations >= 0) b.iterations = o.iterations;
  if (o.proxy_epochs > 0) b.proxy_epochs = o.proxy_epochs;
  if (o.proxy_fraction > 0) b.proxy_fraction = o.proxy_fraction;
  if (o.early_stop_margin >= 0) b.early_stop_margin = o.early_stop_margin >= 1 ? -1 : o.early_stop_margin;
  return b;
}

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

void MultiSourceMethod::resolve_sources(int64_t classes, int64_t image_size) {
  if (!configs_.empty()) return;
  for (size_t j = 0; j < specs_.size(); ++j) {
    ModelOptions o;
    o.model = specs_[j].arch;
    try {
      configs_.push_back(resolve_model_config(o, specs_[j].weights, classes, image_size));
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

void MultiSourceMethod::prepare(PrepareContext& context) {
  resolve_sources(context.num_classes, context.image_size);
  if (!frozen_.empty()) return;
  check(context.data != nullptr && context.train_options != nullptr, "multisource search: no task data");
  check(!context.data->splits.val_indices.empty(),
        "multisource search: the fitness needs a validation split (--val-fraction > 0)");
  const auto budget = resolve_budget(options_);
  const auto& run = *context.train_options;
  const auto data = proxy_data(*context.data, budget.proxy_fraction, static_cast<uint64_t>(run.seed));
  const auto recipe = proxy_options(run, budget.proxy_epochs);

  std::vector<search::PsoDimension> dims;
  for (size_t j = 0; j < specs_.size(); ++j) {
    // One unit always trains (the reference searches k in [0, 48] of ResNet-50's 49 convs).
    dims.push_back({"source" + std::to_string(j) + " " + configs_[j].arch, 0.0,
                    static_cast<double>(unit_counts_[j] - 1), 5.0});
  }
  auto pso_options = search::PsoOptions::paper();
  pso_options.particles = budget.particles;
  pso_options.iterations = budget.iterations;
  // The reference: inertia falls linearly from 1.4 to 0.7 over the iterations.
  pso_options.inertia_drop = budget.iterations > 0 ? 0.7 / static_cast<double>(budget.iterations) : 0.0;
  pso_options.prune_margin = budget.early_stop_margin;
  pso_options.seed = static_cast<uint64_t>(run.seed);
  pso_options.order = search::resolve_pso_order(options_.pso_order, context.dist.get());

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
    proxy.build_own_model({context.num_classes, context.image_size, true, static_cast<uint64_t>(run.seed)});
    train::TrainerHooks hooks;
    hooks.label = "search";
    hooks.quiet = true;
    hooks.run_test = false;
    hooks.after_epoch = [&](int64_t epoch, double val_accuracy) { return info.epoch_done(epoch, val_accuracy); };
    train::Trainer trainer(proxy, recipe, data, hooks);
    return trainer.fit().best_val_accuracy;
  };
  search::Pso pso(dims, pso_options);
  pso.on_evaluation = [&](const search::PsoEvaluation& e, const search::PsoResult& r) {
    if (context.quiet) return;
    std::ostringstream line;
    line << "search " << r.history.size() << "/" << total << " (iteration " << e.iteration << ", particle "
         << e.particle << "): frozen";
    for (auto k : to_k(e.position)) line << " " << k;
    line << ": val acc " << std::fixed << std::setprecision(4) << e.fitness << " after " << e.curve.size()
         << " epoch(s)" << (e.pruned ? " [pruned]" : "") << ", gbest " << r.gbest_fitness << " | "
         << log::format_seconds(e.seconds);
    log::info(line.str());
  };
  const auto result = pso.run_batched(search::spread_over_ranks(context.dist, fitness));
  frozen_ = to_k(result.gbest_position);
  if (result.gbest_fitness <= pso_options.initial_gbest_fitness) {
    log::warn("multisource search: no particle reached a validation accuracy above 0; using its gbest position anyway");
  }

  int64_t proxy_epochs_run = 0;
  nlohmann::json evaluations = nlohmann::json::array();
  for (const auto& e : result.history) {
    evaluations.push_back({{"iteration", e.iteration},
                           {"particle", e.particle},
                           {"position", e.position},
                           {"frozen", to_k(e.position)},
                           {"fitness", e.fitness},
                           {"proxy_epochs", static_cast<int64_t>(e.curve.size())},
                           {"val_curve", e.curve},
                           {"pruned", e.pruned},
                           {"seconds", e.seconds}});
    proxy_epochs_run += static_cast<int64_t>(e.curve.size());
  }
  search_ = {{"preset", options_.search_preset},
             {"pso_order", pso_options.order == search::PsoOrder::synchronous ? "synchronous" : "sequential"},
             {"processes", context.dist ? context.dist->world() : 1},
             {"particles", budget.particles},
             {"iterations", budget.iterations},
             {"proxy_epochs", budget.proxy_epochs},
             {"proxy_fraction", budget.proxy_fraction},
             {"proxy_train_images", data.splits.train_indices.size()},
             {"early_stop_margin", budget.early_stop_margin},
             {"evaluations_run", result.history.size()},
             {"proxy_epochs_run", proxy_epochs_run},
             {"seconds", result.seconds},
             {"gbest_fitness", result.gbest_fitness},
             {"gbest_position", result.gbest_position},
             {"gbest_frozen", frozen_},
             {"gbest_per_iteration", result.gbest_per_iteration},
             {"evaluations", evaluations}};
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
  auto logits = ensemble_->all_logits(images);
  if (eval_split_ == "test") {
    member_logits_ = logits;
  }
  auto sum = logits[0];
  for (size_t j = 1; j < logits.size(); ++j) sum = sum + logits[j];
  return sum;
}

StepOutput MultiSourceMethod::train_step(const torch::Tensor& images, const torch::Tensor& labels,
                                         const LossFn& task_loss) {
  auto logits = ensemble_->all_logits(images);
  auto loss = collaborative_loss(logits, labels, options_.collab_weight, task_loss);
  auto sum = logits[0].detach();
  for (size_t j = 1; j < logits.size(); ++j) sum = sum + logits[j].detach();
  return {loss, sum};
}

void MultiSourceMethod::set_training(bool training) {
  ensemble_->train(training);
  if (training) {
    for (auto& m : frozen_norms_) m->eval();
  }
}

void MultiSourceMethod::on_evaluate_start(const std::string& split) {
  eval_split_ = split;
  member_logits_.clear();
  if (split != "test") return;
  member_correct_.assign(ensemble_->members().size(), 0);
  ensemble_correct_ = 0;
  eval_seen_ = 0;
}

void MultiSourceMethod::on_evaluate_batch(const torch::Tensor& labels) {
  if (eval_split_ != "test" || member_logits_.empty()) return;
  auto sum = torch::zeros_like(member_logits_[0], torch::kFloat32);
  for (size_t j = 0; j < member_logits_.size(); ++j) {
    member_correct_[j] += member_logits_[j].argmax(1).eq(labels).sum().item<int64_t>();
    sum += member_logits_[j].to(torch::kFloat32);
  }
  ensemble_correct_ += sum.argmax(1).eq(labels).sum().item<int64_t>();
  eval_seen_ += labels.size(0);
  member_logits_.clear();
  member_test_accuracy_.clear();
  for (auto c : member_correct_) member_test_accuracy_.push_back(static_cast<double>(c) / eval_seen_);
  ensemble_test_accuracy_ = static_cast<double>(ensemble_correct_) / eval_seen_;
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
  nlohmann::json r = {{"sources", sources},
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
