// The one file that includes c10d. LibTorch 1.13 and 2.x differ here: 2.x split the
// collective interface out of ProcessGroup into c10d::Backend (ProcessGroupGloo/NCCL derive
// from it); 1.13's ProcessGroupGloo derives from ProcessGroup itself. `C10dBackend` below is
// the only name that changes (aft/core/torch_compat.h). The c10d headers guard Gloo and
// NCCL behind USE_C10D_GLOO / USE_C10D_NCCL, which Debian's TorchConfig does not define, so
// they are defined here: Gloo whenever its headers (libgloo-dev) exist, NCCL only in builds
// configured with -DAFT_WITH_NCCL=ON (a CUDA LibTorch) and never tested on CPU-only machines.
#include "aft/dist/process_group.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "aft/core/error.h"
#include "aft/core/torch_compat.h"
#include "aft/dist/nccl_env.h"

#if __has_include(<gloo/algorithm.h>)
#define AFT_HAVE_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(AFT_WITH_NCCL) && __has_include(<nccl.h>)
#define AFT_HAVE_NCCL 1
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace aft::dist {
namespace {

#if AFT_TORCH_C10D_BACKEND
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<C10dBackend> backend;
  int64_t exchanges = 0;  // exchange() calls so far: each meeting's keys are its own
  // The heartbeat exchange() waits on: "heartbeat/RANK" counts up every beat_seconds.
  std::thread beat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (beat.joinable()) beat.join();
  }
};

void DistOptions::visit(OptionVisitor& v) {
  v.field("dist-timeout", "seconds a multi-process job waits for a peer before failing", timeout);
  v.field("dist-backend", "collective backend for multi-process runs: auto|gloo|nccl", backend);
}

void DistOptions::validate() const {
  check(timeout > 0, "--dist-timeout must be > 0 seconds, got ", timeout);
  check_choice("--dist-backend", backend, {"auto", "gloo", "nccl"});
}

bool backend_available(const std::string& backend) {
#ifdef AFT_HAVE_GLOO
  if (backend == "gloo") return true;
#endif
#ifdef AFT_HAVE_NCCL
  if (backend == "nccl") return true;
#endif
  return false;
}

Group::~Group() = default;

std::shared_ptr<Group> Group::create(const LaunchEnv& env, const DistOptions& options, const torch::Device& compute) {
  options.validate();
  if (!env.distributed()) return nullptr;
  std::string backend = options.backend;
  if (backend == "auto") backend = compute.is_cuda() && backend_available("nccl") ? "nccl" : "gloo";
  check(backend_available(backend), "--dist-backend ", backend, " is not in this build (",
        backend == "gloo" ? "install libgloo-dev and rebuild" : "configure a CUDA LibTorch with -DAFT_WITH_NCCL=ON",
        ")");
  check(backend != "nccl" || compute.is_cuda(), "--dist-backend nccl needs a CUDA --device, got ", compute.str());

  std::shared_ptr<Group> group(new Group());
  group->impl_ = std::make_unique<Impl>();
  group->rank_ = env.rank;
  group->world_ = env.world;
  group->local_rank_ = env.local_rank;
  group->backend_ = backend;
  group->timeout_ = options.timeout;
  group->device_ = backend == "nccl" ? compute : torch::Device(torch::kCPU);
  const auto timeout = millis(options.timeout);
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    // Under torchrun the agent already serves a store at MASTER_ADDR:MASTER_PORT.
    so.isServer = !env.agent_store && env.rank == 0;
    so.numWorkers = static_cast<size_t>(env.world);
    so.waitWorkers = true;
    so.timeout = timeout;
#if AFT_TORCH_TCPSTORE_HAS_LIBUV_OPTION
    so.useLibUV = false;  // aft/core/torch_compat.h
#endif
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    // The same key space torch.distributed uses under torchrun, so restarts never read stale keys.
    const std::string prefix =
        env.agent_store ? "/worker/attempt_" + std::to_string(env.restart_count) + "/aft/" : "aft/";
    group->impl_->store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  } catch (const std::exception& e) {
    fail("distributed rendezvous at ", where, " failed on rank ", env.rank, " of ", env.world, " (",
         env.agent_store ? "torchrun's store" : env.rank == 0 ? "hosting the store" : "rank 0 not reachable",
         ", --dist-timeout ", options.timeout, " s): ", first_line(e.what()));
  }
  try {
    if (backend == "gloo") {
#ifdef AFT_HAVE_GLOO
      auto go = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface as in PyTorch; loopback rendezvous stays on loopback.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname != nullptr && *ifname) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (is_loopback(env.master_addr)) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      go->threads = 2;
      group->impl_->backend =
          c10::make_intrusive<c10d::ProcessGroupGloo>(group->impl_->store, env.rank, env.world, go);
#endif
    } else {
#ifdef AFT_HAVE_NCCL
      // Without async error handling NCCL ignores the timeout and a dead peer hangs the job;
      // mode 2 makes the failed collective throw instead of ending the process (nccl_env.h).
      default_nccl_error_handling();
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = timeout;
      group->impl_->backend =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(group->impl_->store, env.rank, env.world, no);
#endif
    }
  } catch (const std::exception& e) {
    fail("distributed rendezvous at ", where, " failed on rank ", env.rank, " of ", env.world, " (forming the ", backend,
         " group: a rank that never started, or an unreachable host; --dist-timeout ", options.timeout,
         " s): ", first_line(e.what()));
  }
  group->barrier();  // every rank has joined before anyone starts training
  if (env.world > 1) {
    // TCPStore serialises its operations, so this thread shares the store with the main one.
    Impl* impl = group->impl_.get();
    const auto key = "heartbeat/" + std::to_string(env.rank);
    const auto every = millis(std::min(1.0, options.timeout / 10));
    impl->beat = std::thread([impl, key, every] {
      std::unique_lock<std::mutex> lock(impl->mutex);
      while (!impl->stopping) {
        try {
          impl->store->add(key, 1);
        } catch (const std::exception&) {
          return;  // the store is gone (rank 0 ended): nobody is waiting on this beat any more
        }
        impl->wake.wait_for(lock, every, [impl] { return impl->stopping; });
      }
    });
  }
  return group;
}

void Group::run(const char* what, const std::function<void()>& op) const {
  try {
    op();
  } catch (const std::exception& e) {
    fail("distributed ", what, " failed on rank ", rank_, " of ", world_,
         " (a peer process died, hung past --dist-timeout ", timeout_, " s, or is unreachable): ", first_line(e.what()));
  }
}

void Group::allreduce_sum(torch::Tensor& tensor) {
  run("all-reduce", [&] {
    std::vector<torch::Tensor> tensors{tensor};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = millis(timeout_);
    impl_->backend->allreduce(tensors, o)->wait(millis(timeout_));
  });
}

std::function<void()> Group::allreduce_sum_async(torch::Tensor tensor) {
  c10::intrusive_ptr<c10d::Work> work;
  run("all-reduce", [&] {
    std::vector<torch::Tensor> one{std::move(tensor)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = millis(timeout_);
    work = impl_->backend->allreduce(one, o);
  });
  return [this, work] { run("all-reduce", [&] { work->wait(millis(timeout_)); }); };
}

void Group::broadcast(torch::Tensor& tensor, int root) {
  run("broadcast", [&] {
    std::vector<torch::Tensor> tensors{tensor};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = millis(timeout_);
    impl_->backend->broadcast(tensors, o)->wait(millis(timeout_));
  });
}

void Group::barrier() {
  run("barrier", [&] {
    c10d::BarrierOptions o;
    o.timeout = millis(timeout_);
    impl_->backend->barrier(o)->wait(millis(timeout_));
  });
}

std::vector<std::string> Group::exchange(const std::string& mine) {
  std::vector<std::string> all(static_cast<size_t>(world_));
  all[static_cast<size_t>(rank_)] = mine;
  if (world_ == 1) return all;
  using Clock = std::chrono::steady_clock;
  auto& store = *impl_->store;
  const std::string tag = "exchange/" + std::to_string(impl_->exchanges++) + "/";
  run("exchange", [&] { store.set(tag + std::to_string(rank_), std::vector<uint8_t>(mine.begin(), mine.end())); });
  struct Peer {
    bool arrived = false;
    int64_t beat = -1;
    Clock::time_point since;
  };
  std::vector<Peer> peers(static_cast<size_t>(world_), Peer{false, -1, Clock::now()});
  peers[static_cast<size_t>(rank_)].arrived = true;
  for (int left = world_ - 1; left > 0;) {
    for (int r = 0; r < world_; ++r) {
      auto& p = peers[static_cast<size_t>(r)];
      if (p.arrived) continue;
      const auto key = tag + std::to_string(r);
      int64_t beat = 0;
      bool here = false;
      run("exchange", [&] {
        here = store.check({key});
        if (here) {
          const auto bytes = store.get(key);
          all[static_cast<size_t>(r)].assign(bytes.begin(), bytes.end());
        } else {
          beat = store.add("heartbeat/" + std::to_string(r), 0);
        }
      });
      if (here) {
        p.arrived = true;
        --left;
      } else if (beat != p.beat) {
        p.beat = beat;
        p.since = Clock::now();
      } else if (std::chrono::duration<double>(Clock::now() - p.since).count() > timeout_) {
        fail("distributed exchange on rank ", rank_, " of ", world_, ": rank ", r, " has sent no heartbeat for ",
             timeout_, " s (--dist-timeout): it died or hung");
      }
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Everyone is here now, so this is quick; it keeps rank 0 (the store's host) from leaving
  // while a peer still reads the messages.
  barrier();
  return all;
}

std::vector<double> Group::sum(const std::vector<double>& values) {
  if (values.empty()) return values;
  auto t = torch::tensor(values, torch::kFloat64).to(device_);
  allreduce_sum(t);
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

}  // namespace aft::dist
