#include "aft/models/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::safetensors {
namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  size_t size;
};

// The safetensors names for the dtypes we read and write. The format is little-endian,
// as is every machine LibTorch supports in practice, so bytes are copied as they are.
const std::vector<DtypeInfo>& dtypes() {
  static const std::vector<DtypeInfo> table = {
      {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
      {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
      {"I16", torch::kInt16, 2},    {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
      {"BOOL", torch::kBool, 1},
  };
  return table;
}

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : dtypes()) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo& dtype_of(torch::ScalarType type, const std::string& key) {
  for (const auto& d : dtypes()) {
    if (d.type == type) return d;
  }
  fail("safetensors: tensor '", key, "' has dtype ", c10::toString(type), " which safetensors cannot store here");
}

std::string valid_dtype_names() {
  std::string out;
  for (const auto& d : dtypes()) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

// Reads a non-negative integer from the header; JSON numbers may be negative or fractional.
uint64_t read_index(const nlohmann::json& value, const std::string& source, const std::string& key,
                    const char* field) {
  check(value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0),
        source, ": tensor '", key, "': ", field, " must hold non-negative integers");
  return value.get<uint64_t>();
}

struct Entry {
  std::string key;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& key, const nlohmann::json& info, uint64_t data_size,
                  const std::string& source) {
  const std::string where = source + ": tensor '" + key + "'";
  check(info.is_object(), where, ": header entry is not an object");
  check(info.contains("dtype") && info["dtype"].is_string(), where, ": missing string 'dtype'");
  check(info.contains("shape") && info["shape"].is_array(), where, ": missing array 'shape'");
  check(info.contains("data_offsets") && info["data_offsets"].is_array() && info["data_offsets"].size() == 2,
        where, ": 'data_offsets' must be an array of two integers");
  Entry e;
  e.key = key;
  const std::string dtype = info["dtype"].get<std::string>();
  e.dtype = find_dtype(dtype);
  check(e.dtype != nullptr, where, ": unknown dtype '", dtype, "' (supported: ", valid_dtype_names(), ")");
  // Count bytes with overflow checks: a hostile shape must not wrap around to a small size.
  uint64_t bytes = e.dtype->size;
  for (const auto& dim : info["shape"]) {
    const uint64_t d = read_index(dim, source, key, "shape");
    check(d <= static_cast<uint64_t>(INT64_MAX), where, ": shape dimension too large");
    e.shape.push_back(static_cast<int64_t>(d));
    check(!__builtin_mul_overflow(bytes, d, &bytes), where, ": shape is too large");
  }
  e.begin = read_index(info["data_offsets"][0], source, key, "data_offsets");
  e.end = read_index(info["data_offsets"][1], source, key, "data_offsets");
  check(e.begin <= e.end, where, ": data_offsets [", e.begin, ", ", e.end, "] are reversed");
  check(e.end <= data_size, where, ": data_offsets [", e.begin, ", ", e.end, "] run past the end of the data (",
        data_size, " bytes)");
  check(e.end - e.begin == bytes, where, ": shape and dtype need ", bytes, " bytes but data_offsets span ",
        e.end - e.begin);
  return e;
}

}  // namespace

File parse(const std::string& bytes, const std::string& source) {
  check(bytes.size() >= 8, source, ": not a safetensors file (", bytes.size(), " bytes, shorter than the 8-byte header length)");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(bytes[i]);
  check(header_size <= bytes.size() - 8, source, ": header length ", header_size, " runs past the end of the file (",
        bytes.size(), " bytes)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::exception& e) {
    fail(source, ": safetensors header is not valid JSON (", e.what(), ")");
  }
  check(header.is_object(), source, ": safetensors header is not a JSON object");
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = bytes.size() - data_start;

  File file;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      check(it.value().is_object(), source, ": __metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        check(m.value().is_string(), source, ": __metadata__ value '", m.key(), "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), it.value(), data_size, source));
  }
  // Overlapping tensors would alias each other's bytes; the format forbids it.
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    check(order[i]->begin >= order[i - 1]->end, source, ": tensors '", order[i - 1]->key, "' and '", order[i]->key,
          "' overlap in the data section");
  }
  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes.data() + data_start + e.begin, e.end - e.begin);
    // BOOL bytes other than 0/1 are undefined for torch; normalise them instead of trusting the file.
    if (e.dtype->type == torch::kBool) t = t.view(torch::kUInt8).ne(0);
    file.tensors.emplace(e.key, std::move(t));
  }
  return file;
}

File read(const std::string& path) {
  // Weight files run to hundreds of MB: read them in one call into a buffer of the right size.
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  check(in.good(), "cannot open ", path);
  const std::streamoff size = in.tellg();
  check(size >= 0, "cannot read ", path);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(bytes.data(), size);
  check(in.gcount() == size, "error while reading ", path);
  return parse(bytes, path);
}

std::string serialize(const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();  // std::map-backed: keys come out sorted
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [key, tensor] : tensors) {
    check(tensor.defined(), "safetensors: tensor '", key, "' is undefined");
    check(key != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
    const DtypeInfo& d = dtype_of(tensor.scalar_type(), key);
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * d.size;
    header[key] = {{"dtype", d.name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += text;
  for (const auto& t : data) {
    if (t.numel() > 0) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return out;
}

void write(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
           const std::map<std::string, std::string>& metadata) {
  fs::write_file_atomic(path, serialize(tensors, metadata));
}

}  // namespace aft::safetensors
