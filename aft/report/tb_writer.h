// TensorBoard event files for a run (RUN/tb/): scalars written as tensorflow.Event records in
// TFRecord framing, so `tensorboard --logdir RUN` shows aft's curves and each method's numbers.
// The records are built with libprotobuf (already a LibTorch dependency) from a descriptor made
// at run time, so there is no .proto/protoc build step; checksums are Boost.CRC's CRC-32C.
#pragma once
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace aft::report {

// CRC-32C (Castagnoli) and the masked form TFRecord stores.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);
// One TFRecord: uint64 length, masked CRC of the length, the data, masked CRC of the data.
std::string tfrecord(const std::string& data);

// Serialized tensorflow.Event messages.
std::string event_file_version(double wall_time);
std::string event_scalar(double wall_time, int64_t step, const std::string& tag, float value);

class TbWriter {
 public:
  // Creates DIR and a new events.out.tfevents.<unix time>.<hostname> file in it.
  explicit TbWriter(const std::string& dir);
  void add_scalar(const std::string& tag, double value, int64_t step);
  // Makes what was written visible to a running TensorBoard; throws if the disk refused it.
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// One metrics.jsonl row (train_loss, val_accuracy, lr, images_per_second, ...) as scalars.
void write_metrics_row(TbWriter& tb, const nlohmann::json& row, int64_t step);

// Every number in `report` as a scalar tagged PREFIX/path/to/key: a number at step 0, an array
// of numbers as a series (step = index), and an array of objects as one series per numeric key
// (e.g. PSO gbest per iteration, per-evaluation fitness, per-block tuned fraction).
void write_json_scalars(TbWriter& tb, const std::string& prefix, const nlohmann::json& report);

}  // namespace aft::report
