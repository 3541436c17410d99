// An independent reader for TensorBoard event files, written for the tests from the format's
// description (TFRecord framing, CRC-32C by a bitwise loop, protobuf wire format by hand), so
// the writer's use of libprotobuf and Boost.CRC is checked against something it does not share.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace aft::testing {

inline uint32_t bitwise_crc32c(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;  // reflected 0x1EDC6F41
  }
  return crc ^ 0xFFFFFFFFu;
}

inline uint32_t bitwise_masked_crc32c(const std::string& bytes) {
  const uint32_t crc = bitwise_crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

struct ReadValue {
  std::string tag;
  float simple_value = 0;
  bool has_simple_value = false;
};

struct ReadEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<ReadValue> values;
};

class WireReader {
 public:
  explicit WireReader(const std::string& bytes) : s_(bytes) {}
  bool done() const { return pos_ >= s_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= s_.size()) throw std::runtime_error("truncated varint");
      const auto b = static_cast<unsigned char>(s_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("varint too long");
  }
  std::string bytes(size_t n) {
    if (pos_ + n > s_.size()) throw std::runtime_error("truncated field");
    std::string out = s_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  // Skips a field of a wire type the reader does not expect.
  void skip(int wire) {
    if (wire == 0) varint();
    else if (wire == 1) bytes(8);
    else if (wire == 2) bytes(varint());
    else if (wire == 5) bytes(4);
    else throw std::runtime_error("unknown wire type " + std::to_string(wire));
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

inline ReadValue parse_value(const std::string& bytes) {
  ReadValue v;
  WireReader r(bytes);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {
      v.tag = r.bytes(r.varint());
    } else if (field == 2 && wire == 5) {
      const std::string b = r.bytes(4);
      std::memcpy(&v.simple_value, b.data(), 4);
      v.has_simple_value = true;
    } else {
      r.skip(wire);
    }
  }
  return v;
}

inline ReadEvent parse_event(const std::string& bytes) {
  ReadEvent e;
  WireReader r(bytes);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 1) {
      const std::string b = r.bytes(8);
      std::memcpy(&e.wall_time, b.data(), 8);
    } else if (field == 2 && wire == 0) {
      e.step = static_cast<int64_t>(r.varint());
    } else if (field == 3 && wire == 2) {
      e.file_version = r.bytes(r.varint());
    } else if (field == 5 && wire == 2) {
      const std::string summary = r.bytes(r.varint());
      WireReader s(summary);
      while (!s.done()) {
        const uint64_t k = s.varint();
        if ((k >> 3) == 1 && (k & 7) == 2) e.values.push_back(parse_value(s.bytes(s.varint())));
        else s.skip(static_cast<int>(k & 7));
      }
    } else {
      r.skip(wire);
    }
  }
  return e;
}

inline uint64_t le_u64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}
inline uint32_t le_u32(const std::string& b, size_t at) { return static_cast<uint32_t>(le_u64(b.substr(at, 4) + std::string(4, '\0'), 0)); }

// Splits a whole events file into records, checking both CRCs of each; throws on any mismatch.
inline std::vector<ReadEvent> read_events(const std::string& file) {
  std::vector<ReadEvent> out;
  size_t pos = 0;
  while (pos < file.size()) {
    if (pos + 12 > file.size()) throw std::runtime_error("truncated record header");
    const std::string length_bytes = file.substr(pos, 8);
    if (le_u32(file, pos + 8) != bitwise_masked_crc32c(length_bytes)) throw std::runtime_error("length CRC mismatch");
    const uint64_t length = le_u64(file, pos);
    if (pos + 12 + length + 4 > file.size()) throw std::runtime_error("truncated record");
    const std::string data = file.substr(pos + 12, length);
    if (le_u32(file, pos + 12 + length) != bitwise_masked_crc32c(data)) throw std::runtime_error("data CRC mismatch");
    out.push_back(parse_event(data));
    pos += 12 + length + 4;
  }
  return out;
}

}  // namespace aft::testing
