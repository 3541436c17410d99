// The random states a checkpoint carries (aft/train/checkpoint.cpp): the CPU stream continues
// exactly after a resume, and CUDA states (cuda:N) travel with it but are optional both ways.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"
#include "aft/train/checkpoint.h"

namespace {

namespace stdfs = std::filesystem;

struct Fixture {
  torch::nn::Linear net{torch::nn::LinearOptions(3, 2)};
  torch::optim::SGD sgd{net->parameters(), torch::optim::SGDOptions(0.1)};
};

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  stdfs::remove_all(dir);
  return dir;
}

TEST(CheckpointRng, CpuStreamContinuesAfterResume) {
  Fixture f;
  const std::string dir = fresh_dir("aft_ckpt_rng_cpu");
  torch::manual_seed(11);
  torch::rand({7});
  aft::train::save_checkpoint(dir, *f.net, f.sgd, {});
  const auto expected = torch::rand({5});
  torch::manual_seed(999);  // another stream in between
  aft::train::load_checkpoint(dir, *f.net, f.sgd);
  EXPECT_TRUE(torch::equal(torch::rand({5}), expected));
  // What was saved: the CPU state, and one state per CUDA device this machine has.
  const auto saved = aft::safetensors::read(dir + "/rng.safetensors").tensors;
  EXPECT_EQ(saved.count("cpu"), 1u);
  const size_t devices = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  EXPECT_EQ(saved.size(), 1 + devices);
  for (size_t i = 0; i < devices; ++i) EXPECT_EQ(saved.count("cuda:" + std::to_string(i)), 1u);
}

TEST(CheckpointRng, CudaStatesOfAbsentDevicesAreLeftUnused) {
  Fixture f;
  const std::string dir = fresh_dir("aft_ckpt_rng_cuda");
  aft::train::save_checkpoint(dir, *f.net, f.sgd, {});
  auto states = aft::safetensors::read(dir + "/rng.safetensors").tensors;
  // A GPU run's checkpoint resumed here: a state for a device index no machine here has.
  states["cuda:99"] = states.at("cpu").clone();
  aft::safetensors::write(dir + "/rng.safetensors", states);
  torch::manual_seed(3);
  const auto saved_cpu = states.at("cpu");
  EXPECT_NO_THROW(aft::train::load_checkpoint(dir, *f.net, f.sgd));
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  EXPECT_TRUE(torch::equal(gen.get_state(), saved_cpu));
}

TEST(CheckpointRng, UnknownStateNameIsRefused) {
  Fixture f;
  const std::string dir = fresh_dir("aft_ckpt_rng_bad");
  aft::train::save_checkpoint(dir, *f.net, f.sgd, {});
  for (const char* bad : {"tpu:0", "cuda:", "cuda:x1"}) {
    auto states = aft::safetensors::read(dir + "/rng.safetensors").tensors;
    states[bad] = states.at("cpu").clone();
    aft::safetensors::write(dir + "/rng.safetensors", states);
    try {
      aft::train::load_checkpoint(dir, *f.net, f.sgd);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const aft::Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
    states.erase(bad);
    aft::safetensors::write(dir + "/rng.safetensors", states);
  }
}

}  // namespace
