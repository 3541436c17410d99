#include "aft/search/pso.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "aft/core/error.h"
#include "aft/search/journal.h"

namespace aft::search {

PsoOptions PsoOptions::paper() {
  PsoOptions o;
  o.particles = 10;
  o.iterations = 15;
  o.c1 = o.c2 = 1.5;
  o.inertia = 1.4;
  o.inertia_drop = 0.7 / 15;
  return o;
}

double unit_uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Pso::Pso(std::vector<PsoDimension> dimensions, PsoOptions options)
    : dims_(std::move(dimensions)), options_(options), rng_(options.seed) {
  check(!dims_.empty(), "PSO: no search dimensions");
  check(options_.particles >= 1, "PSO: --particles must be at least 1, got ", options_.particles);
  check(options_.iterations >= 0, "PSO: --iterations must be >= 0, got ", options_.iterations);
  for (const auto& d : dims_) {
    check(d.hi >= d.lo, "PSO: dimension ", d.name, " has hi ", d.hi, " < lo ", d.lo);
    check(d.vclip >= 0, "PSO: dimension ", d.name, " has a negative velocity clip ", d.vclip);
  }
}

Pso::~Pso() = default;

namespace {

// What a journal must match to be replayed into this search.
nlohmann::json search_identity(const std::vector<PsoDimension>& dims, const PsoOptions& o) {
  nlohmann::json d = nlohmann::json::array();
  for (const auto& dim : dims) d.push_back({dim.name, dim.lo, dim.hi, dim.vclip});
  return {{"dimensions", d},      {"particles", o.particles}, {"iterations", o.iterations},
          {"c1", o.c1},           {"c2", o.c2},               {"inertia", o.inertia},
          {"inertia_drop", o.inertia_drop}, {"prune_margin", o.prune_margin}, {"seed", o.seed},
          {"order", o.order == PsoOrder::sequential ? "sequential" : "synchronous"}};
}

}  // namespace

void Pso::move(Particle& p, double inertia) {
  // One r1 and one r2 per particle update, shared by all dimensions (the reference); r1 is
  // drawn first because Python evaluates the velocity expression left to right.
  const double r1 = unit_uniform(rng_);
  const double r2 = unit_uniform(rng_);
  const auto& gbest = result_.gbest_position;
  for (size_t j = 0; j < dims_.size(); ++j) {
    double v = inertia * p.v[j] + options_.c1 * r1 * (p.pbest[j] - p.x[j]) + options_.c2 * r2 * (gbest[j] - p.x[j]);
    v = std::clamp(v, -dims_[j].vclip, dims_[j].vclip);
    p.v[j] = v;
    p.x[j] = std::clamp(p.x[j] + v, dims_[j].lo, dims_[j].hi);
  }
}

void Pso::consider(size_t i, double fitness, const std::vector<double>& curve) {
  // Strictly better only: ties keep the earlier position (the reference's `>`).
  auto& p = particles_[i];
  if (fitness > p.pbest_fitness) {
    p.pbest = p.x;
    p.pbest_fitness = fitness;
  }
  if (fitness > result_.gbest_fitness) {
    result_.gbest_position = p.x;
    result_.gbest_fitness = fitness;
    gbest_curve_ = curve;
  }
}

void Pso::evaluate(const std::vector<size_t>& which, int64_t iteration, const BatchFitnessFn& fitness) {
  const size_t n = which.size();
  std::vector<PsoEvaluation> pending(n);
  std::vector<std::vector<double>> positions(n);
  std::vector<EvalInfo> infos(n);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = which[k];
    pending[k].iteration = iteration;
    pending[k].particle = static_cast<int64_t>(i);
    pending[k].position = particles_[i].x;
    positions[k] = particles_[i].x;
    infos[k].iteration = iteration;
    infos[k].particle = static_cast<int64_t>(i);
    // Each evaluation compares against the gbest curve as it stood when it was dispatched,
    // which keeps concurrent evaluations independent of each other.
    infos[k].epoch_done = [record = &pending[k], reference = gbest_curve_, margin = options_.prune_margin](
                              int64_t epoch, double accuracy) {
      record->curve.push_back(accuracy);
      if (margin < 0 || epoch < 0 || epoch >= static_cast<int64_t>(reference.size())) return true;
      if (accuracy < reference[epoch] - margin) record->pruned = true;
      return !record->pruned;
    };
  }
  const size_t batch = batch_index_++;
  if (journal_ && batch < journal_->batches()) {
    // Finished before the interruption: the recorded outcome, not a new run.
    const auto& recorded = journal_->batch(batch);
    check(recorded.size() == n, journal_->path(), ": batch ", batch + 1, " holds ", recorded.size(),
          " evaluations, this search makes ", n);
    for (size_t k = 0; k < n; ++k) {
      const auto& r = recorded[k];
      check(r.at("position").get<std::vector<double>>() == positions[k], journal_->path(), ": evaluation ",
            result_.history.size() + k + 1, " was made at another position (another version or settings?)");
      pending[k].fitness = r.at("fitness").get<double>();
      pending[k].curve = r.at("curve").get<std::vector<double>>();
      pending[k].pruned = r.at("pruned").get<bool>();
      pending[k].seconds = r.at("seconds").get<double>();
      pending[k].replayed = true;
    }
  } else {
    const auto start = std::chrono::steady_clock::now();
    const auto fitnesses = fitness(positions, infos);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check(fitnesses.size() == n, "PSO: the fitness function returned ", fitnesses.size(), " values for ", n,
          " positions");
    nlohmann::json line = nlohmann::json::array();
    for (size_t k = 0; k < n; ++k) {
      pending[k].fitness = fitnesses[k];
      pending[k].seconds = seconds / static_cast<double>(n);
      line.push_back({{"position", positions[k]}, {"fitness", fitnesses[k]}, {"curve", pending[k].curve},
                      {"pruned", pending[k].pruned}, {"seconds", pending[k].seconds}});
    }
    if (journal_) journal_->append(line);
  }
  for (size_t k = 0; k < n; ++k) {
    consider(which[k], pending[k].fitness, pending[k].curve);
    result_.history.push_back(std::move(pending[k]));
    if (on_evaluation) on_evaluation(result_.history.back(), result_);
  }
}

PsoResult Pso::run(const FitnessFn& fitness) {
  return run_batched([&](const std::vector<std::vector<double>>& positions, const std::vector<EvalInfo>& infos) {
    std::vector<double> out;
    for (size_t k = 0; k < positions.size(); ++k) out.push_back(fitness(positions[k], infos[k]));
    return out;
  });
}

PsoResult Pso::run_batched(const BatchFitnessFn& fitness) {
  const auto start = std::chrono::steady_clock::now();
  rng_.seed(options_.seed);
  batch_index_ = 0;
  journal_.reset();
  if (!options_.journal.empty()) {
    journal_ = std::make_unique<SearchJournal>(options_.journal, search_identity(dims_, options_), options_.journal_writer);
  }
  result_ = PsoResult();
  result_.gbest_position.assign(dims_.size(), 0.0);  // the reference starts gbest at zeros
  result_.gbest_fitness = options_.initial_gbest_fitness;
  gbest_curve_.clear();
  const size_t n = static_cast<size_t>(options_.particles);
  particles_.assign(n, Particle());
  // Initial swarm, drawn as the reference does: x_j then v_j, dimension by dimension.
  for (auto& p : particles_) {
    for (const auto& d : dims_) {
      p.x.push_back(d.lo + (d.hi - d.lo) * unit_uniform(rng_));
      p.v.push_back(-d.vclip + 2 * d.vclip * unit_uniform(rng_));
    }
    p.pbest = p.x;
    p.pbest_fitness = -std::numeric_limits<double>::infinity();
  }
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  const bool sequential = options_.order == PsoOrder::sequential;
  // The initial draws do not depend on fitness, so only the pruning reference differs
  // between evaluating the initial swarm one by one or as one batch.
  if (sequential) {
    for (size_t i = 0; i < n; ++i) evaluate({i}, 0, fitness);
  } else {
    evaluate(all, 0, fitness);
  }
  result_.gbest_per_iteration.push_back(result_.gbest_fitness);
  double inertia = options_.inertia;
  for (int64_t it = 1; it <= options_.iterations; ++it) {
    if (sequential) {
      for (size_t i = 0; i < n; ++i) {
        move(particles_[i], inertia);
        evaluate({i}, it, fitness);
      }
    } else {
      for (auto& p : particles_) move(p, inertia);
      evaluate(all, it, fitness);
    }
    inertia -= options_.inertia_drop;
    result_.gbest_per_iteration.push_back(result_.gbest_fitness);
  }
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result_;
}

}  // namespace aft::search
