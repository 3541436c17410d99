// Our own safetensors reader/writer (F32, F16, BF16, I64, plus the other common dtypes).
// The header is parsed with nlohmann::json; every offset is validated before use so a
// corrupt file gives an aft::Error naming the file and the problem, never a crash.
#pragma once
#include <torch/types.h>

#include <map>
#include <string>

namespace aft::safetensors {

struct File {
  std::map<std::string, torch::Tensor> tensors;    // CPU tensors, dtype as stored
  std::map<std::string, std::string> metadata;     // the "__metadata__" entry
};

File read(const std::string& path);
File parse(const std::string& bytes, const std::string& source);  // source names the data in errors
// Serialises tensors (moved to CPU, made contiguous); written atomically.
std::string serialize(const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void write(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace aft::safetensors
