// What --overwrite may remove, and the lock that keeps two writers apart.
#include "aft/core/output_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/manifest.h"

namespace {

namespace stdfs = std::filesystem;
const aft::OutputKind kKind{"run directory", "config.json"};

std::string fresh(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/aft_output_dir_" + name;
  aft::fs::remove_all(dir);
  return dir;
}

TEST(OutputDir, StatesTellOursFromAnyoneElses) {
  const std::string dir = fresh("states");
  EXPECT_EQ(aft::output_state(dir, kKind), aft::OutputState::absent);
  aft::fs::create_directories(dir);
  EXPECT_EQ(aft::output_state(dir, kKind), aft::OutputState::empty);
  aft::manifest::track(dir);
  aft::fs::write_file_atomic(dir + "/summary.json", "{}");
  std::string why;
  EXPECT_EQ(aft::output_state(dir, kKind, &why), aft::OutputState::foreign);  // no marker
  EXPECT_NE(why.find("config.json"), std::string::npos) << why;
  aft::fs::write_file_atomic(dir + "/config.json", "{}");
  aft::manifest::untrack(dir);
  aft::fs::write_file_atomic(dir + "/config.json.tmp.123", "{");  // a killed atomic write
  EXPECT_EQ(aft::output_state(dir, kKind), aft::OutputState::ours);
  aft::fs::write_file_atomic(dir + "/notes.txt", "mine");
  EXPECT_EQ(aft::output_state(dir, kKind, &why), aft::OutputState::foreign);
  EXPECT_NE(why.find("notes.txt"), std::string::npos) << why;
}

TEST(OutputDir, OverwriteRefusesInputsHomeAndRoot) {
  const std::string dir = fresh("inputs");
  aft::fs::create_directories(dir + "/data/train");
  aft::fs::write_file_atomic(dir + "/config.json", "{}");
  EXPECT_THROW(aft::check_overwritable(dir, kKind, {dir + "/data"}), aft::Error);
  EXPECT_THROW(aft::check_overwritable(dir + "/data/..", kKind, {dir + "/data/train"}), aft::Error);
  EXPECT_THROW(aft::check_overwritable("/", kKind, {}), aft::Error);
  if (const char* home = std::getenv("HOME")) EXPECT_THROW(aft::check_overwritable(home, kKind, {}), aft::Error);
  EXPECT_TRUE(aft::path_within(dir + "/data/train", dir));
  EXPECT_TRUE(aft::path_within(dir, dir + "/"));
  EXPECT_FALSE(aft::path_within(dir + "-other", dir));
  EXPECT_FALSE(aft::path_within(dir, dir + "/data"));
}

TEST(OutputDir, ALockIsExclusiveAndReleased) {
  const std::string dir = fresh("lock");
  aft::fs::create_directories(dir);
  {
    aft::DirLock lock(dir);
    EXPECT_TRUE(aft::fs::exists(dir + "/.lock"));
    EXPECT_THROW(aft::DirLock second(dir), aft::Error);  // held by this live process
    EXPECT_EQ(aft::output_state(dir, kKind), aft::OutputState::empty);  // a lock alone is no content
  }
  EXPECT_FALSE(aft::fs::exists(dir + "/.lock"));
  // A lock naming a process that is gone is taken over.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  aft::fs::write_file_atomic(dir + "/.lock", std::to_string(child) + " " + host + "\n");
  EXPECT_NO_THROW(aft::DirLock taken(dir));
}

}  // namespace
