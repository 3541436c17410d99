// The launcher's view of this process: rank, world size, local rank and the rendezvous
// address, read from the variables torchrun (RANK, WORLD_SIZE, ...) or srun (SLURM_*) set.
// Nothing here talks to the network; process_group.h forms the group from a LaunchEnv.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace aft::dist {

struct LaunchEnv {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun hosts the store in its agent; workers connect to it as clients (never host one).
  bool agent_store = false;
  int restart_count = 0;           // TORCHELASTIC_RESTART_COUNT: namespaces the store's keys
  std::string launcher = "none";   // none|env|torchrun|slurm
  bool distributed() const { return world > 1; }
};

using GetEnv = std::function<const char*(const char*)>;

// Reads the standard variables; the torchrun/env names win over SLURM's. Throws aft::Error on
// malformed or inconsistent values (rank outside the world, missing MASTER_ADDR with world > 1).
LaunchEnv read_launch_env(const GetEnv& getenv = nullptr);

// The device of one process of a multi-process run: any CUDA choice ("auto" where CUDA exists,
// "cuda", "cuda:N") becomes GPU local_rank (modulo the visible count), as torchrun users expect;
// "cpu" stays. Narrow per-process GPU sets with CUDA_VISIBLE_DEVICES.
std::string device_for_rank(const std::string& device, int local_rank);

}  // namespace aft::dist
