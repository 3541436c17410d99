// safetensors reader/writer: round trips for every dtype, one clear aft::Error per kind of
// corruption, and a deterministic fuzz loop that may only ever produce aft::Error.
#include "aft/models/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <random>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace st = aft::safetensors;

namespace {

// A raw file from a header string and data bytes, as a foreign writer would produce it.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    st::parse(bytes, "test.safetensors");
  } catch (const aft::Error& e) {
    return e.what();
  }
  return "";
}

std::map<std::string, torch::Tensor> sample_tensors() {
  torch::manual_seed(3);
  return {
      {"f32", torch::randn({3, 4})},
      {"f16", torch::randn({5}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"f64", torch::randn({2, 2}, torch::kFloat64)},
      {"i64", torch::arange(-3, 4, torch::kInt64)},
      {"i32", torch::arange(0, 6, torch::kInt32).reshape({2, 3})},
      {"u8", torch::arange(250, 256, torch::kInt64).to(torch::kUInt8)},
      {"bool", torch::tensor({1, 0, 1}).to(torch::kBool)},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 3})},
  };
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  const auto tensors = sample_tensors();
  const std::string path = ::testing::TempDir() + "/aft_st_roundtrip.safetensors";
  st::write(path, tensors, {{"arch", "resnet18"}, {"note", "x"}});
  const st::File file = st::read(path);
  EXPECT_EQ(file.metadata.at("arch"), "resnet18");
  EXPECT_EQ(file.metadata.at("note"), "x");
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [key, t] : tensors) {
    const torch::Tensor& back = file.tensors.at(key);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << key;
    EXPECT_EQ(back.sizes(), t.sizes()) << key;
    EXPECT_TRUE(torch::equal(back, t)) << key;
  }
}

TEST(Safetensors, HeaderIsAlignedSortedAndSpacePadded) {
  const std::string bytes = st::serialize({{"b", torch::ones({3})}, {"a", torch::zeros({1})}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  EXPECT_LT(header.find("\"a\""), header.find("\"b\""));
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.rfind('}') + 1);
  EXPECT_EQ(bytes.size(), 8 + n + 16);
}

TEST(Safetensors, NonContiguousTensorsAreWrittenInLogicalOrder) {
  auto t = torch::arange(6, torch::kFloat32).reshape({2, 3}).t();
  auto back = st::parse(st::serialize({{"t", t}}), "mem").tensors.at("t");
  EXPECT_TRUE(torch::equal(back, t));
}

TEST(Safetensors, TruncatedFiles) {
  EXPECT_NE(error_of("abc").find("shorter than the 8-byte header length"), std::string::npos);
  const std::string good = st::serialize({{"x", torch::ones({4})}});
  EXPECT_NE(error_of(good.substr(0, 20)).find("runs past the end of the file"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 1)).find("run past the end of the data"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 20)).find("test.safetensors"), std::string::npos);
}

TEST(Safetensors, BadHeaders) {
  const std::string data(16, '\0');
  EXPECT_NE(error_of(raw_file("{not json", data)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(raw_file("[1, 2]", data)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F8","shape":[4],"data_offsets":[0,4]}})", data))
                .find("unknown dtype 'F8'"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}})", data))
                .find("run past the end"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data))
                .find("need 12 bytes but data_offsets span 16"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                              data))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data))
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", data))
                .find("too large"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"__metadata__":{"a":1}})", data)).find("not a string"), std::string::npos);
  EXPECT_NE(error_of(raw_file(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", data)).find("'dtype'"),
            std::string::npos);
}

TEST(Safetensors, MissingFileNamesPath) {
  try {
    st::read("/nonexistent/w.safetensors");
    FAIL();
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/w.safetensors"), std::string::npos);
  }
}

// Mutates a valid file a few hundred ways; parse must either succeed or throw aft::Error.
TEST(Safetensors, FuzzedInputsOnlyThrowAftError) {
  const std::string valid = st::serialize(sample_tensors(), {{"k", "v"}});
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<unsigned char>(valid[i]);
  std::mt19937 rng(12345);
  const std::string tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "-1", "1e30", "18446744073709551615",
                                "\"BOOL\"", "\"F64\"", "null", "true", "\"data_offsets\"", "\"shape\"", "\xff"};
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string bytes = valid;
    switch (iter % 5) {
      case 0: {  // flip bytes inside the header
        for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) bytes[8 + rng() % header_size] = static_cast<char>(rng());
        break;
      }
      case 1:  // truncate anywhere
        bytes.resize(rng() % bytes.size());
        break;
      case 2: {  // rewrite the header length
        const uint64_t n = iter % 2 ? rng() % (bytes.size() + 16) : (static_cast<uint64_t>(rng()) << 32 | rng());
        for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
        break;
      }
      case 3: {  // splice JSON tokens into the header, keeping its length field honest
        std::string header = bytes.substr(8, header_size);
        for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
          const size_t at = rng() % header.size();
          header.replace(at, rng() % 4, tokens[rng() % std::size(tokens)]);
        }
        bytes = raw_file(header, valid.substr(8 + header_size));
        break;
      }
      default: {  // change digits (shapes, offsets) only
        for (int k = 0; k < 3; ++k) {
          const size_t at = 8 + rng() % header_size;
          if (std::isdigit(static_cast<unsigned char>(bytes[at]))) bytes[at] = static_cast<char>('0' + rng() % 10);
        }
      }
    }
    try {
      st::parse(bytes, "fuzz");
      ++accepted;
    } catch (const aft::Error& e) {
      ++rejected;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << iter << " threw a non-aft exception: " << e.what();
    }
  }
  EXPECT_GT(rejected, 100);
  EXPECT_GT(accepted + rejected, 399);
}
