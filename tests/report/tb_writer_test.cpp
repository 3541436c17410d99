#include "aft/report/tb_writer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <regex>

#include "aft/core/fs.h"
#include "aft/methods/baselines.h"
#include "aft/methods/registry.h"
#include "tests/data/data_test_util.h"
#include "tests/report/event_reader.h"
#include "tests/train/tiny_task.h"

namespace {

using aft::testing::ReadEvent;
namespace stdfs = std::filesystem;

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path().string());
  return out;
}

// (tag, step) -> value over all scalar events.
std::map<std::pair<std::string, int64_t>, float> scalars(const std::vector<ReadEvent>& events) {
  std::map<std::pair<std::string, int64_t>, float> out;
  for (const auto& e : events) {
    for (const auto& v : e.values) {
      EXPECT_TRUE(v.has_simple_value) << v.tag;
      out[{v.tag, e.step}] = v.simple_value;
    }
  }
  return out;
}

TEST(TensorboardCrc, MatchesTheCheckValueAndTheTestsOwnLoop) {
  const std::string check = "123456789";
  EXPECT_EQ(aft::report::crc32c(check.data(), check.size()), 0xE3069283u);  // CRC-32C check value
  EXPECT_EQ(aft::testing::bitwise_crc32c(check), 0xE3069283u);
  const std::string other = std::string("\0\x01\xff tensorboard", 14);
  EXPECT_EQ(aft::report::masked_crc32c(other.data(), other.size()), aft::testing::bitwise_masked_crc32c(other));
}

TEST(TensorboardEvents, WriterRecordsParseBackWithTheIndependentReader) {
  const std::string dir = aft::data::testing::temp_dir("tb_writer") + "/tb";
  const double before = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string path;
  {
    aft::report::TbWriter tb(dir);
    path = tb.path();
    tb.add_scalar("train/loss", 0.0, 1);  // a zero must still be present, not defaulted away
    tb.add_scalar("val/accuracy", 0.75, 2);
    tb.add_scalar("method/x", -3.5, 0);
    tb.add_scalar("big/step", 1e6, int64_t{1} << 40);
    tb.flush();
  }
  ASSERT_EQ(event_files(dir).size(), 1u);
  EXPECT_TRUE(std::regex_match(stdfs::path(path).filename().string(),
                               std::regex(R"(events\.out\.tfevents\.\d{10}\.[^/]+)")))
      << path;
  const auto events = aft::testing::read_events(aft::fs::read_file(path));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].values.empty());
  for (const auto& e : events) {
    EXPECT_GE(e.wall_time, before - 1);
    EXPECT_LE(e.wall_time, before + 60);
  }
  ASSERT_EQ(events[1].values.size(), 1u);
  EXPECT_EQ(events[1].values[0].tag, "train/loss");
  EXPECT_TRUE(events[1].values[0].has_simple_value);
  EXPECT_EQ(events[1].values[0].simple_value, 0.0f);
  EXPECT_EQ(events[1].step, 1);
  EXPECT_EQ(events[2].values[0].tag, "val/accuracy");
  EXPECT_EQ(events[2].values[0].simple_value, 0.75f);
  EXPECT_EQ(events[2].step, 2);
  EXPECT_EQ(events[3].values[0].simple_value, -3.5f);
  EXPECT_EQ(events[3].step, 0);
  EXPECT_EQ(events[4].values[0].simple_value, 1e6f);
  EXPECT_EQ(events[4].step, int64_t{1} << 40);

  // A second writer in the same directory never appends to (or replaces) the first file.
  aft::report::TbWriter again(dir);
  EXPECT_NE(again.path(), path);
  EXPECT_EQ(event_files(dir).size(), 2u);
}

TEST(TensorboardEvents, TheReaderRejectsACorruptRecord) {
  const std::string dir = aft::data::testing::temp_dir("tb_corrupt");
  std::string path;
  {
    aft::report::TbWriter tb(dir);
    tb.add_scalar("a", 1.0, 1);
    tb.flush();
    path = tb.path();
  }
  std::string bytes = aft::fs::read_file(path);
  ASSERT_NO_THROW(aft::testing::read_events(bytes));
  bytes[bytes.size() - 6] ^= 0x01;  // a bit of the last record's value
  EXPECT_THROW(aft::testing::read_events(bytes), std::runtime_error);
}

TEST(TensorboardEvents, JsonScalarsFollowTheReportsShape) {
  const std::string dir = aft::data::testing::temp_dir("tb_json");
  std::string path;
  {
    aft::report::TbWriter tb(dir);
    path = tb.path();
    const nlohmann::json report = {
        {"mean_tuned_blocks", 2.5},
        {"route", "argmax"},
        {"frozen", true},
        {"search", {{"gbest_per_iteration", {0.5, 0.625, 0.75}}}},
        {"units", {{{"unit", "a"}, {"angle", 0.25}, {"chosen", true}}, {{"unit", "b"}, {"angle", 0.125}}}}};
    aft::report::write_json_scalars(tb, "method", report);
    tb.flush();
  }
  const auto s = scalars(aft::testing::read_events(aft::fs::read_file(path)));
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(s.at({"method/mean_tuned_blocks", 0}), 2.5f);
  EXPECT_EQ(s.at({"method/search/gbest_per_iteration", 0}), 0.5f);
  EXPECT_EQ(s.at({"method/search/gbest_per_iteration", 2}), 0.75f);
  EXPECT_EQ(s.at({"method/units/angle", 0}), 0.25f);
  EXPECT_EQ(s.at({"method/units/angle", 1}), 0.125f);
  EXPECT_EQ(s.count({"method/frozen", 0}), 0u);  // booleans are not scalars
}

TEST(TensorboardTrainer, EveryEpochsMetricsAreLogged) {
  const std::string dir = aft::data::testing::temp_dir("tb_trainer");
  auto task = aft::testing::tiny_task();
  auto method = aft::methods::find_method("full").create(aft::methods::NoOptions());
  method->attach(aft::testing::tiny_resnet());
  aft::train::TrainerHooks hooks;
  hooks.quiet = true;
  hooks.tb = std::make_shared<aft::report::TbWriter>(dir);
  const auto result = aft::train::Trainer(*method, aft::testing::tiny_options(2), task, hooks).fit();
  const auto s = scalars(aft::testing::read_events(aft::fs::read_file(hooks.tb->path())));
  ASSERT_EQ(result.history.size(), 2u);
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    const auto& row = result.history[static_cast<size_t>(epoch - 1)];
    EXPECT_EQ(s.at({"train/loss", epoch}), static_cast<float>(row.at("train_loss").get<double>()));
    EXPECT_EQ(s.at({"val/accuracy", epoch}), static_cast<float>(row.at("val_accuracy").get<double>()));
    EXPECT_EQ(s.at({"train/learning_rate", epoch}), static_cast<float>(row.at("lr").get<double>()));
    EXPECT_GT(s.at({"train/images_per_second", epoch}), 0.0f);
  }
  EXPECT_EQ(s.at({"test/accuracy", 2}), static_cast<float>(result.test_accuracy));
}

}  // namespace
