// A process group on PyTorch's c10d runtime: a TCPStore rendezvous (hosted by rank 0, or by
// torchrun's agent) and ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA builds), with
// the few blocking collectives aft needs. Every collective is bounded by --dist-timeout: a dead
// or hung peer becomes an aft::Error naming the operation, never an endless wait.
#pragma once
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aft/core/options.h"
#include "aft/dist/env.h"

namespace aft::dist {

struct DistOptions : Options {
  double timeout = 300;          // seconds a collective or the rendezvous may wait for a peer
  std::string backend = "auto";  // auto|gloo|nccl; auto: nccl for CUDA devices when built with it
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// True when this build can form a group with the named backend.
bool backend_available(const std::string& backend);

class Group {
 public:
  // Joins the group the launch environment describes; nullptr when it names one process.
  // `compute` is the training device: auto picks NCCL for CUDA (where built in), Gloo otherwise.
  static std::shared_ptr<Group> create(const LaunchEnv& env, const DistOptions& options,
                                       const torch::Device& compute = torch::kCPU);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }
  // Where tensors handed to collectives must live (CPU for Gloo, the rank's GPU for NCCL).
  const torch::Device& device() const { return device_; }
  double timeout_seconds() const { return timeout_; }

  // In place, blocking. The tensor must be contiguous and on device() (c10d reads a list of
  // tensors as one per local device, so aft always hands it exactly one).
  void allreduce_sum(torch::Tensor& tensor);
  void broadcast(torch::Tensor& tensor, int root = 0);
  void barrier();
  // Element-wise sum over ranks of a few numbers (metric counts), exact for integers < 2^53.
  std::vector<double> sum(const std::vector<double>& values);

  // Starts an in-place sum of one tensor; call the returned function to wait for it.
  std::function<void()> allreduce_sum_async(torch::Tensor tensor);

  // Every rank's `mine`, in rank order, however long the others take to get here. For ranks
  // that do unequal work between meetings (a race's rungs, where one rank trains three
  // candidates and another two): a collective would fail a peer that is merely busy after
  // --dist-timeout. Here every rank beats a heartbeat into the rendezvous store (a thread of its
  // own, every second), and a peer counts as gone only when its heartbeat stops for
  // --dist-timeout. Collective: every rank calls it, in the same order.
  std::vector<std::string> exchange(const std::string& mine);

 private:
  struct Impl;
  Group() = default;
  void run(const char* what, const std::function<void()>& op) const;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  std::string backend_;
  torch::Device device_ = torch::kCPU;
  double timeout_ = 300;
};

using GroupPtr = std::shared_ptr<Group>;

}  // namespace aft::dist
