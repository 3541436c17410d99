// `multisource` — AMCF (Feng et al., docs/multisource.md): N >= 2 pretrained source models,
// each with its own new head, fine-tuned together on one target with a collaborative loss that
// pulls their logits together; per source, the first k_j layer units stay frozen, k_j given
// (--frozen) or searched by PSO on validation accuracy of short joint proxy runs. Prediction
// sums the sources' logits.
#pragma once
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "aft/methods/prefix_cache.h"
#include "aft/methods/registry.h"
#include "aft/search/search_options.h"

namespace aft::methods {

// The search flags (particles, iterations, proxy epochs, ...) come from search::SearchOptions.
struct MultiSourceOptions : search::SearchOptions {
  std::vector<std::string> sources;    // ARCH=WEIGHTS (or WEIGHTS whose metadata names the arch)
  std::string frozen;                  // K1,K2,...: frozen layer units per source; empty: search
  double collab_weight = 0.2;          // lambda
  bool freeze_bn_stats = false;        // frozen units' batch norms keep their statistics
  std::string search_preset = "paper"; // paper|fast
  std::string cache_frozen = "auto";   // auto|off: keep frozen prefixes' outputs across epochs
  int64_t cache_mb = 2048;             // memory the cache may fill

  void visit(OptionVisitor& v) override;
  void validate() const override;
  bool searches() const { return frozen.empty(); }
};

// One --source, resolved: where its weights are and what network they belong to.
struct SourceSpec {
  std::string arch;     // empty: from the weights' metadata
  std::string weights;  // safetensors file (a run directory is resolved to its model.safetensors)
};
// Parses ARCH=WEIGHTS or WEIGHTS; throws naming the flag on a missing file.
SourceSpec parse_source(const std::string& text);
// Parses --frozen K1,K2,...; throws naming the bad item.
std::vector<int64_t> parse_frozen(const std::string& text);

// The search settings after applying --search-preset and the explicit overrides.
struct MultiSourceBudget : search::SearchBudget {
  MultiSourceBudget() { iterations = 5; }  // the reference: 10 particles x 5 iterations
};
MultiSourceBudget resolve_budget(const MultiSourceOptions& options);

// L = sum_j task_loss(z_j, y) + lambda * mean_batch( (1/N) sum_j ||z_j - mean_j z_j||_2 ).
torch::Tensor collaborative_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels, double lambda,
                                 const LossFn& task_loss);

// The N source networks as one module: parameters are named "sources.J.<torchvision name>".
class SourceEnsemble : public torch::nn::Module {
 public:
  explicit SourceEnsemble(std::vector<models::ModelPtr> members);
  const std::vector<models::ModelPtr>& members() const { return members_; }
  // Every member's logits, in source order.
  std::vector<torch::Tensor> all_logits(const torch::Tensor& images);

 private:
  std::vector<models::ModelPtr> members_;
};

class MultiSourceMethod : public Method {
 public:
  explicit MultiSourceMethod(MultiSourceOptions options);
  std::string name() const override { return "multisource"; }
  bool builds_own_model() const override { return true; }
  // Resolves the sources' architectures; searches k per source unless --frozen gives them.
  void prepare(PrepareContext& context) override;
  nlohmann::json prepared_state() const override;
  void restore_prepared(const nlohmann::json& state, PrepareContext& context) override;
  // Builds the ensemble (pretrained sources, new heads from the seed) and freezes per k.
  void build_own_model(const OwnModelSpec& spec) override;
  std::map<std::string, std::string> own_model_metadata() const override;
  // The first source's: one transform feeds every source (docs/efficientnet.md).
  std::string own_model_arch() const override;
  std::vector<std::string> inputs() const override;
  std::shared_ptr<torch::nn::Module> module() override { return ensemble_; }
  std::vector<ParamGroup> param_groups() override;
  torch::Tensor predict(const torch::Tensor& images) override;
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override;
  // Frozen units' batch norms with --freeze-bn-stats.
  std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() override;
  void on_evaluate_start(const std::string& split) override;
  // predict() plus, on the test pass, each member's and the ensemble's accuracy.
  torch::Tensor evaluate_batch(const torch::Tensor& images, const torch::Tensor& labels) override;
  nlohmann::json report() override;

  // Search proxies and tests: fixed frozen counts (no search).
  void set_frozen(std::vector<int64_t> k);
  const std::vector<int64_t>& frozen() const { return frozen_; }
  std::shared_ptr<SourceEnsemble> ensemble() const { return ensemble_; }
  // Layer units per source (the search's upper bound is this minus one: one unit always trains).
  const std::vector<int64_t>& unit_counts() const { return unit_counts_; }
  // Frozen counts, first tuned units and the test accuracy of each source alone and of the
  // ensemble (filled during the test pass), as a compact text table.
  std::string table() const;
  // Per source, the leading trunk pieces served from the frozen-output cache (0: none).
  const std::vector<int64_t>& cached_pieces() const { return cached_pieces_; }
  const PrefixCache* cache() const { return cache_.get(); }

 private:
  void resolve_sources(int64_t classes, int64_t image_size);
  // Turns the cache on when --cache-frozen allows it and the training images never vary.
  void setup_cache(const train::TrainData* data);
  // The wholly frozen leading pieces of a member whose outputs stay fixed (0 without a cache).
  int64_t cacheable_pieces(models::VisionModel& member) const;
  // Every member's logits, the cached prefixes read from the cache.
  std::vector<torch::Tensor> all_logits(const torch::Tensor& images);

  MultiSourceOptions options_;
  std::vector<SourceSpec> specs_;
  std::vector<models::ModelConfig> configs_;
  std::vector<int64_t> unit_counts_;
  std::vector<int64_t> frozen_;
  std::vector<std::string> first_tuned_;
  std::shared_ptr<SourceEnsemble> ensemble_;
  std::vector<std::shared_ptr<torch::nn::Module>> frozen_norms_;
  // Shared with the search's proxies: the frozen pieces are the same pretrained weights.
  std::shared_ptr<PrefixCache> cache_;
  std::string cache_state_ = "off (--cache-frozen off)";
  std::vector<int64_t> cached_pieces_;
  nlohmann::json search_ = nullptr;
  // Per-member correct counts during the current evaluation pass ("test" only).
  std::string eval_split_;
  std::vector<int64_t> member_correct_;
  int64_t ensemble_correct_ = 0, eval_seen_ = 0;
  std::vector<double> member_test_accuracy_;
  double ensemble_test_accuracy_ = -1;
};

MethodInfo multisource_method();

}  // namespace aft::methods
