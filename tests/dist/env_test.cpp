#include "aft/dist/env.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "aft/core/error.h"

namespace {

aft::dist::GetEnv fake(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

TEST(LaunchEnv, NoVariablesMeansOneProcess) {
  const auto env = aft::dist::read_launch_env(fake({}));
  EXPECT_EQ(env.world, 1);
  EXPECT_EQ(env.rank, 0);
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.launcher, "none");
}

TEST(LaunchEnv, TorchrunVariables) {
  const auto env = aft::dist::read_launch_env(fake({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                                    {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29400"},
                                                    {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                    {"TORCHELASTIC_RESTART_COUNT", "2"}}));
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node0");
  EXPECT_EQ(env.master_port, 29400);
  EXPECT_TRUE(env.agent_store);
  EXPECT_EQ(env.restart_count, 2);
  EXPECT_EQ(env.launcher, "torchrun");
}

TEST(LaunchEnv, PlainEnvHostsItsOwnStore) {
  const auto env = aft::dist::read_launch_env(
      fake({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}}));
  EXPECT_FALSE(env.agent_store);
  EXPECT_EQ(env.launcher, "env");
  EXPECT_EQ(env.local_rank, 0);
}

TEST(LaunchEnv, SlurmVariablesDeriveTheAddressFromTheNodeList) {
  const auto env = aft::dist::read_launch_env(fake({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                                    {"SLURM_STEP_NODELIST", "gpu[07-08,11]"}, {"SLURM_JOB_ID", "123"}}));
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu07");
  EXPECT_EQ(env.master_port, 20123);
  EXPECT_EQ(env.launcher, "slurm");
  // torchrun's names win when both are present (torchrun inside an allocation).
  const auto both = aft::dist::read_launch_env(fake({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"RANK", "1"},
                                                     {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}));
  EXPECT_EQ(both.world, 2);
  EXPECT_EQ(both.launcher, "env");
}

TEST(LaunchEnv, BadValuesAreClearErrors) {
  EXPECT_THROW(aft::dist::read_launch_env(fake({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"},
                                                {"MASTER_PORT", "1"}})),
               aft::Error);
  EXPECT_THROW(aft::dist::read_launch_env(fake({{"RANK", "0"}, {"WORLD_SIZE", "two"}})), aft::Error);
  EXPECT_THROW(aft::dist::read_launch_env(fake({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}})),
               aft::Error);
  EXPECT_THROW(aft::dist::read_launch_env(fake({{"WORLD_SIZE", "2"}})), aft::Error);
}

TEST(LaunchEnv, CpuStaysCpuForEveryRank) {
  EXPECT_EQ(aft::dist::device_for_rank("cpu", 3), "cpu");
}

}  // namespace
