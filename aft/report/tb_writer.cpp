#include "aft/report/tb_writer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <unistd.h>

#include <boost/crc.hpp>
#include <chrono>
#include <memory>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/manifest.h"

namespace aft::report {
namespace {

namespace pb = google::protobuf;

// The three messages of tensorflow/core/util/event.proto and summary.proto that scalars need,
// with their upstream field numbers and oneofs (a oneof member is written even when it is 0,
// which TensorBoard relies on to tell a 0.0 scalar from "no value").
struct EventSchema {
  pb::DescriptorPool pool;
  pb::DynamicMessageFactory factory{&pool};
  const pb::Descriptor* event = nullptr;
  const pb::Descriptor* summary = nullptr;
  const pb::Descriptor* value = nullptr;

  EventSchema() {
    pb::FileDescriptorProto file;
    file.set_name("aft/tensorboard_event.proto");
    file.set_package("tensorflow");
    file.set_syntax("proto3");
    auto field = [](pb::DescriptorProto* m, const char* name, int number, pb::FieldDescriptorProto::Type type,
                    int oneof = -1, const char* type_name = nullptr) {
      auto* f = m->add_field();
      f->set_name(name);
      f->set_number(number);
      f->set_type(type);
      f->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
      if (oneof >= 0) f->set_oneof_index(oneof);
      if (type_name) f->set_type_name(type_name);
      return f;
    };
    auto* summary_proto = file.add_message_type();
    summary_proto->set_name("Summary");
    auto* value_proto = summary_proto->add_nested_type();
    value_proto->set_name("Value");
    value_proto->add_oneof_decl()->set_name("value");
    field(value_proto, "tag", 1, pb::FieldDescriptorProto::TYPE_STRING);
    field(value_proto, "simple_value", 2, pb::FieldDescriptorProto::TYPE_FLOAT, 0);
    field(summary_proto, "value", 1, pb::FieldDescriptorProto::TYPE_MESSAGE, -1, ".tensorflow.Summary.Value")
        ->set_label(pb::FieldDescriptorProto::LABEL_REPEATED);
    auto* event_proto = file.add_message_type();
    event_proto->set_name("Event");
    event_proto->add_oneof_decl()->set_name("what");
    field(event_proto, "wall_time", 1, pb::FieldDescriptorProto::TYPE_DOUBLE);
    field(event_proto, "step", 2, pb::FieldDescriptorProto::TYPE_INT64);
    field(event_proto, "file_version", 3, pb::FieldDescriptorProto::TYPE_STRING, 0);
    field(event_proto, "summary", 5, pb::FieldDescriptorProto::TYPE_MESSAGE, 0, ".tensorflow.Summary");
    const pb::FileDescriptor* built = pool.BuildFile(file);
    check(built != nullptr, "internal error: cannot build the TensorBoard event descriptor");
    event = built->FindMessageTypeByName("Event");
    summary = built->FindMessageTypeByName("Summary");
    value = summary->FindNestedTypeByName("Value");
  }

  std::unique_ptr<pb::Message> make_event(double wall_time, int64_t step) {
    std::unique_ptr<pb::Message> m(factory.GetPrototype(event)->New());
    const auto* r = m->GetReflection();
    r->SetDouble(m.get(), event->FindFieldByName("wall_time"), wall_time);
    r->SetInt64(m.get(), event->FindFieldByName("step"), step);
    return m;
  }
};

EventSchema& schema() {
  static EventSchema s;
  return s;
}

std::string serialize(const pb::Message& m) {
  std::string out;
  check(m.SerializeToString(&out), "internal error: cannot serialize a TensorBoard event");
  return out;
}

double unix_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == 0) return "localhost";
  return name;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string out;
  const uint64_t length = data.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  put_u32(out, masked_crc32c(out.data(), 8));
  out += data;
  put_u32(out, masked_crc32c(data.data(), data.size()));
  return out;
}

std::string event_file_version(double wall_time) {
  auto& s = schema();
  auto m = s.make_event(wall_time, 0);
  m->GetReflection()->SetString(m.get(), s.event->FindFieldByName("file_version"), "brain.Event:2");
  return serialize(*m);
}

std::string event_scalar(double wall_time, int64_t step, const std::string& tag, float value) {
  auto& s = schema();
  auto m = s.make_event(wall_time, step);
  auto* summary = m->GetReflection()->MutableMessage(m.get(), s.event->FindFieldByName("summary"), &s.factory);
  auto* v = summary->GetReflection()->AddMessage(summary, s.summary->FindFieldByName("value"), &s.factory);
  v->GetReflection()->SetString(v, s.value->FindFieldByName("tag"), tag);
  v->GetReflection()->SetFloat(v, s.value->FindFieldByName("simple_value"), value);
  return serialize(*m);
}

TbWriter::TbWriter(const std::string& dir) {
  fs::create_directories(dir);
  const double now = unix_time();
  const std::string base = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + hostname();
  // A resumed run (or a second writer within the same second) gets its own file; TensorBoard
  // reads every events file of a directory.
  path_ = base;
  for (int n = 1; fs::exists(path_); ++n) path_ = base + "." + std::to_string(n);
  manifest::note(path_);  // written with a stream, not aft::fs: the run's manifest must still list it
  out_.open(path_, std::ios::binary | std::ios::app);
  check(out_.good(), "cannot create the TensorBoard event file ", path_);
  out_ << tfrecord(event_file_version(now));
  flush();
}

void TbWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  out_ << tfrecord(event_scalar(unix_time(), step, tag, static_cast<float>(value)));
}

void TbWriter::flush() {
  out_.flush();
  check(out_.good(), "cannot write the TensorBoard event file ", path_, " (disk full?)");
}

void write_metrics_row(TbWriter& tb, const nlohmann::json& row, int64_t step) {
  static const std::pair<const char*, const char*> kTags[] = {
      {"train_loss", "train/loss"},         {"train_accuracy", "train/accuracy"},
      {"val_loss", "val/loss"},             {"val_accuracy", "val/accuracy"},
      {"test_loss", "test/loss"},           {"test_accuracy", "test/accuracy"},
      {"lr", "train/learning_rate"},        {"images_per_second", "train/images_per_second"},
      {"seconds", "train/epoch_seconds"}};
  for (const auto& [key, tag] : kTags) {
    if (row.contains(key) && row.at(key).is_number()) tb.add_scalar(tag, row.at(key).get<double>(), step);
  }
}

void write_json_scalars(TbWriter& tb, const std::string& prefix, const nlohmann::json& report) {
  if (report.is_number()) {
    tb.add_scalar(prefix, report.get<double>(), 0);
  } else if (report.is_object()) {
    for (auto it = report.begin(); it != report.end(); ++it) write_json_scalars(tb, prefix + "/" + it.key(), it.value());
  } else if (report.is_array()) {
    int64_t step = 0;
    for (const auto& item : report) {
      if (item.is_number()) {
        tb.add_scalar(prefix, item.get<double>(), step);
      } else if (item.is_object()) {
        for (auto it = item.begin(); it != item.end(); ++it) {
          if (it.value().is_number()) tb.add_scalar(prefix + "/" + it.key(), it.value().get<double>(), step);
        }
      }
      ++step;
    }
  }
}

}  // namespace aft::report
