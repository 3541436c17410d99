#include "aft/train/checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/models/safetensors.h"
#include "aft/models/weights.h"

namespace aft::train {
namespace {

void save_module(torch::nn::Module& module, const std::string& path) {
  aft::safetensors::write(path, models::state_dict(module));
}

torch::Tensor generator_state(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_state(at::Generator generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// The random streams a resumed run must continue: the CPU's and each CUDA device's ("cuda:0",
// ...: dropout, augmentation and noise drawn on the GPU).
std::map<std::string, torch::Tensor> rng_states() {
  std::map<std::string, torch::Tensor> states{{"cpu", generator_state(at::detail::getDefaultCPUGenerator())}};
  if (torch::cuda::is_available()) {
    for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) {
      const at::Device device(at::kCUDA, static_cast<at::DeviceIndex>(i));
      states["cuda:" + std::to_string(i)] = generator_state(at::globalContext().defaultGenerator(device));
    }
  }
  return states;
}

// A CUDA state whose device this machine lacks (resuming a GPU run on the CPU) is left unused,
// and a device with no saved state (a checkpoint from a CPU run) keeps its own.
void restore_rng_states(const std::map<std::string, torch::Tensor>& states, const std::string& path) {
  check(states.count("cpu") == 1, path, ": missing 'cpu'");
  set_generator_state(at::detail::getDefaultCPUGenerator(), states.at("cpu"));
  const int64_t devices = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  for (const auto& [name, state] : states) {
    if (name == "cpu") continue;
    const std::string digits = name.rfind("cuda:", 0) == 0 ? name.substr(5) : "";
    check(!digits.empty() && digits.size() < 4 && digits.find_first_not_of("0123456789") == std::string::npos, path,
          ": unknown random state '", name, "' (expected cpu or cuda:N)");
    const int64_t index = std::stoll(digits);
    if (index >= devices) continue;
    const at::Device device(at::kCUDA, static_cast<at::DeviceIndex>(index));
    set_generator_state(at::globalContext().defaultGenerator(device), state);
  }
}

}  // namespace

void load_module_state(torch::nn::Module& module, const std::string& path) {
  auto file = aft::safetensors::read(path);
  models::check_finite(file.tensors, path);
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters(true);
  auto buffers = module.named_buffers(true);
  size_t matched = 0;
  auto copy = [&](const std::string& name, torch::Tensor& target) {
    auto it = file.tensors.find(name);
    check(it != file.tensors.end(), path, ": checkpoint lacks '", name, "' (another configuration?)");
    check(it->second.sizes() == target.sizes(), path, ": '", name, "' has shape ", it->second.sizes(),
          ", the model expects ", target.sizes(), " (another configuration?)");
    target.copy_(it->second);
    ++matched;
  };
  for (auto& p : params) copy(p.key(), p.value());
  for (auto& b : buffers) copy(b.key(), b.value());
  check(matched == file.tensors.size(), path, ": checkpoint has ", file.tensors.size(), " tensors, the model ",
        matched, " (another configuration?)");
}

namespace {

// Every file of a checkpoint goes through fs::write_file_atomic (write, fsync, check, rename):
// LibTorch's own serializer writes straight to its file and aborts on a full disk, so the
// optimizer's archive is serialized into memory first.
void write_checkpoint_files(const std::string& tmp, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                            const CheckpointState& state) {
  save_module(module, tmp + "/model.safetensors");
  if (!state.best.empty()) aft::safetensors::write(tmp + "/best.safetensors", state.best);
  if (!state.ema.empty()) aft::safetensors::write(tmp + "/ema.safetensors", state.ema);
  std::ostringstream bytes;
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(bytes);
  }
  check(bytes.good(), "cannot serialize the optimizer state");
  fs::write_file_atomic(tmp + "/optimizer.pt", bytes.str());
  aft::safetensors::write(tmp + "/rng.safetensors", rng_states());
  nlohmann::json j = state.progress;
  j["epochs_done"] = state.epochs_done;
  fs::write_json_atomic(tmp + "/state.json", j);
}

}  // namespace

void save_checkpoint(const std::string& dir, torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state) {
  const std::string tmp = dir + ".tmp";
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    write_checkpoint_files(tmp, module, optimizer, state);
  } catch (const std::exception& e) {
    // One line: what failed, and what --resume will find (the previous checkpoint is untouched).
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    const auto kept = checkpoint_progress(dir);
    std::string what = e.what();
    if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    if (kept.is_object() && kept.contains("epochs_done")) {
      fail(what, "; the last complete checkpoint, at epoch ", kept["epochs_done"].dump(), ", is kept (", dir, ")");
    }
    fail(what, "; no checkpoint was completed yet");
  }
  // Swap: the old checkpoint stays readable until the new one is complete.
  const std::string old = dir + ".old";
  fs::remove_all(old);
  if (fs::exists(dir)) fs::replace_path(dir, old);
  fs::replace_path(tmp, dir);
  fs::remove_all(old);
}

bool has_checkpoint(const std::string& dir) {
  return fs::exists(dir + "/state.json") || fs::exists(dir + ".old/state.json");
}

nlohmann::json checkpoint_progress(const std::string& dir) {
  if (fs::exists(dir + "/state.json")) return fs::read_json(dir + "/state.json");
  if (fs::exists(dir + ".old/state.json")) return fs::read_json(dir + ".old/state.json");
  return nullptr;
}

CheckpointState load_checkpoint(const std::string& dir_in, torch::nn::Module& module, torch::optim::Optimizer& optimizer) {
  // A crash between the two renames leaves only the ".old" copy: it is complete.
  const std::string dir = fs::exists(dir_in + "/state.json") ? dir_in : dir_in + ".old";
  check(fs::exists(dir + "/state.json"), dir_in, ": no checkpoint to resume from");
  load_module_state(module, dir + "/model.safetensors");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/optimizer.pt");
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    // LibTorch's own message is many lines of C++ frames; its first line says what went wrong.
    const std::string what = e.what_without_backtrace();
    fail(dir, "/optimizer.pt: cannot restore the optimizer state (", what.substr(0, what.find('\n')), ")");
  }
  restore_rng_states(aft::safetensors::read(dir + "/rng.safetensors").tensors, dir + "/rng.safetensors");
  CheckpointState state;
  state.progress = fs::read_json(dir + "/state.json");
  const auto done = state.progress.find("epochs_done");
  check(done != state.progress.end() && done->is_number_integer() && done->get<int64_t>() >= 0, dir,
        "/state.json: epochs_done must be a whole number >= 0, found ",
        done == state.progress.end() ? std::string("nothing") : done->dump());
  state.epochs_done = done->get<int64_t>();
  if (fs::exists(dir + "/best.safetensors")) state.best = aft::safetensors::read(dir + "/best.safetensors").tensors;
  if (fs::exists(dir + "/ema.safetensors")) state.ema = aft::safetensors::read(dir + "/ema.safetensors").tensors;
  return state;
}

}  // namespace aft::train
