// Precompiled header: LibTorch's headers cost most of every compile, so they are parsed once.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <memory>
#include <map>
#include <functional>
