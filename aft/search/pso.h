// A generic, seeded particle-swarm optimiser (maximisation) with the update rule of the
// parameter-contribution reference code, a full evaluation history, and early stopping of
// evaluations that fall clearly behind the global best's learning curve.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace aft::search {

class SearchJournal;

struct PsoDimension {
  std::string name;
  double lo = 0.0;     // positions are clipped to [lo, hi]
  double hi = 1.0;
  double vclip = 0.2;  // velocities are clipped to [-vclip, vclip]
};

// When pbest/gbest are updated relative to the moves of one iteration.
//  sequential (the reference): particle i moves, is evaluated, and updates pbest/gbest at once,
//    so particle i+1's velocity already sees that gbest. Evaluations cannot overlap.
//  synchronous (for parallel evaluation): every particle of the iteration moves with the gbest
//    of the end of the previous iteration; the batch is evaluated (possibly concurrently); then
//    pbest/gbest are updated in particle order. Trajectories differ from the reference.
enum class PsoOrder { sequential, synchronous };

struct PsoOptions {
  int64_t particles = 10;
  int64_t iterations = 15;               // after the initial swarm: particles*(iterations+1) evaluations
  double c1 = 1.5;                       // pull towards the particle's own best
  double c2 = 1.5;                       // pull towards the swarm's best
  double inertia = 1.4;                  // at the first iteration
  double inertia_drop = 0.7 / 15;        // subtracted after every iteration (linear decay)
  double initial_gbest_fitness = 1e-7;   // the reference's starting gbest value
  double prune_margin = -1;              // <0: never prune; else stop when acc < gbest_acc(epoch) - margin
  uint64_t seed = 0;
  PsoOrder order = PsoOrder::sequential;
  // A search journal (search/journal.h): finished evaluations are read back instead of run
  // again, and new ones are recorded. Empty: none. Only a journal writer appends to it.
  std::string journal;
  bool journal_writer = true;

  // N=10, M=15, c1=c2=1.5, inertia 1.4 falling by 0.7/M per iteration (160 evaluations).
  static PsoOptions paper();
};

// What a fitness callback knows about the evaluation it performs.
struct EvalInfo {
  int64_t iteration = 0;  // 0: the initial swarm; 1..iterations afterwards
  int64_t particle = 0;
  // Call after each proxy epoch (0-based) with its accuracy; records the learning curve and
  // returns false when the evaluation should stop (clearly behind gbest at that epoch).
  std::function<bool(int64_t epoch, double accuracy)> epoch_done;
};

using FitnessFn = std::function<double(const std::vector<double>& position, const EvalInfo& info)>;
// Evaluates several positions of one iteration; returns one fitness per position, in order.
using BatchFitnessFn =
    std::function<std::vector<double>(const std::vector<std::vector<double>>& positions, const std::vector<EvalInfo>& infos)>;

struct PsoEvaluation {
  int64_t iteration = 0;
  int64_t particle = 0;
  std::vector<double> position;
  double fitness = 0;
  std::vector<double> curve;  // accuracy per proxy epoch actually run (via epoch_done)
  bool pruned = false;
  double seconds = 0;         // batched evaluations share their batch's wall time equally
  bool replayed = false;      // read back from the journal of an interrupted search
};

struct PsoResult {
  std::vector<double> gbest_position;
  double gbest_fitness = 0;
  std::vector<double> gbest_per_iteration;  // after the initial swarm, then after each iteration
  std::vector<PsoEvaluation> history;       // every evaluation, in evaluation order
  double seconds = 0;
};

// A uniform draw in [0, 1) from the top 53 bits: the same sequence on every standard library.
double unit_uniform(std::mt19937_64& rng);

class Pso {
 public:
  Pso(std::vector<PsoDimension> dimensions, PsoOptions options);
  ~Pso();
  PsoResult run(const FitnessFn& fitness);
  // With PsoOrder::sequential, iterations are still evaluated one particle per batch.
  PsoResult run_batched(const BatchFitnessFn& fitness);
  // Called after every evaluation (progress lines, incremental logs).
  std::function<void(const PsoEvaluation&, const PsoResult&)> on_evaluation;

 private:
  struct Particle {
    std::vector<double> x, v, pbest;
    double pbest_fitness = 0;
  };
  void move(Particle& p, double inertia);
  void evaluate(const std::vector<size_t>& which, int64_t iteration, const BatchFitnessFn& fitness);
  void consider(size_t particle, double fitness, const std::vector<double>& curve);

  std::vector<PsoDimension> dims_;
  PsoOptions options_;
  std::mt19937_64 rng_;
  std::vector<Particle> particles_;
  std::vector<double> gbest_curve_;
  PsoResult result_;
  std::unique_ptr<SearchJournal> journal_;
  size_t batch_index_ = 0;
};

}  // namespace aft::search
