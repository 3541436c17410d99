#include "aft/dist/env.h"

#include <torch/cuda.h>

#include <cstdlib>

#include "aft/core/error.h"
#include "aft/core/parse.h"

namespace aft::dist {
namespace {

bool present(const char* v) { return v != nullptr && *v != '\0'; }

int to_int(const char* name, const char* value) {
  const auto v = parse_integer(value);
  if (v && *v >= INT32_MIN && *v <= INT32_MAX) return static_cast<int>(*v);
  fail("environment variable ", name, "=", value, " is not an integer");
}

// SLURM_STEP_NODELIST / SLURM_NODELIST may be "host[1-3,7],other": the first host is where rank 0 runs
// (srun places ranks in node-list order), so it is the rendezvous address when MASTER_ADDR is unset.
std::string first_slurm_host(std::string list) {
  const auto bracket = list.find('[');
  const auto comma = list.find(',');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) return list.substr(0, comma);
  std::string prefix = list.substr(0, bracket);
  std::string range = list.substr(bracket + 1);
  range = range.substr(0, range.find_first_of("-,]"));
  return prefix + range;
}

}  // namespace

LaunchEnv read_launch_env(const GetEnv& getenv_in) {
  const GetEnv get = getenv_in ? getenv_in : GetEnv([](const char* n) { return std::getenv(n); });
  LaunchEnv env;
  const char* world = get("WORLD_SIZE");
  const char* rank = get("RANK");
  if (present(world) || present(rank)) {
    check(present(world) && present(rank), "RANK and WORLD_SIZE must be set together (RANK=", rank ? rank : "",
          " WORLD_SIZE=", world ? world : "", ")");
    env.world = to_int("WORLD_SIZE", world);
    env.rank = to_int("RANK", rank);
    const char* local = get("LOCAL_RANK");
    env.local_rank = present(local) ? to_int("LOCAL_RANK", local) : env.rank;
    const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
    env.agent_store = present(agent) && (std::string(agent) == "True" || std::string(agent) == "1" ||
                                         std::string(agent) == "true");
    const char* restarts = get("TORCHELASTIC_RESTART_COUNT");
    if (present(restarts)) env.restart_count = to_int("TORCHELASTIC_RESTART_COUNT", restarts);
    env.launcher = present(get("TORCHELASTIC_RUN_ID")) || env.agent_store ? "torchrun" : "env";
  } else if (present(get("SLURM_NTASKS")) && present(get("SLURM_PROCID"))) {
    env.world = to_int("SLURM_NTASKS", get("SLURM_NTASKS"));
    env.rank = to_int("SLURM_PROCID", get("SLURM_PROCID"));
    const char* local = get("SLURM_LOCALID");
    env.local_rank = present(local) ? to_int("SLURM_LOCALID", local) : 0;
    env.launcher = "slurm";
  }
  check(env.world >= 1, "WORLD_SIZE must be >= 1, got ", env.world);
  check(env.rank >= 0 && env.rank < env.world, "RANK ", env.rank, " is outside WORLD_SIZE ", env.world);
  check(env.local_rank >= 0, "LOCAL_RANK must be >= 0, got ", env.local_rank);

  const char* addr = get("MASTER_ADDR");
  const char* port = get("MASTER_PORT");
  if (present(addr)) {
    env.master_addr = addr;
  } else if (env.launcher == "slurm") {
    const char* nodes = present(get("SLURM_STEP_NODELIST")) ? get("SLURM_STEP_NODELIST") : get("SLURM_NODELIST");
    check(present(nodes) || env.world == 1, "srun launch: set MASTER_ADDR (no SLURM_NODELIST to derive it from)");
    if (present(nodes)) env.master_addr = first_slurm_host(nodes);
  } else {
    check(env.world == 1, "WORLD_SIZE=", env.world, " but MASTER_ADDR is not set (the address of rank 0's host)");
  }
  if (present(port)) {
    env.master_port = to_int("MASTER_PORT", port);
  } else if (env.launcher == "slurm") {
    // A port derived from the job id, so concurrent jobs on one node do not collide.
    const char* job = get("SLURM_JOB_ID");
    if (present(job)) env.master_port = 20000 + to_int("SLURM_JOB_ID", job) % 20000;
  } else {
    check(env.world == 1, "WORLD_SIZE=", env.world, " but MASTER_PORT is not set");
  }
  check(env.master_port > 0 && env.master_port < 65536, "MASTER_PORT ", env.master_port, " is not a TCP port");
  return env;
}

std::string device_for_rank(const std::string& device, int local_rank) {
  const bool cuda = device.rfind("cuda", 0) == 0 || (device == "auto" && torch::cuda::is_available());
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (!cuda || count == 0) return device == "auto" ? "cpu" : device;
  return "cuda:" + std::to_string(local_rank % count);
}

}  // namespace aft::dist
