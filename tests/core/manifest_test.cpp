// The manifest of what aft wrote, the private build that swaps a folder in, the inputs an
// output may not touch, and the lock's take-over (issue 28's cases 1-5 and 8 at the library level).
#include "aft/core/manifest.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/options.h"
#include "aft/core/output_dir.h"

namespace {

namespace stdfs = std::filesystem;
const aft::OutputKind kData{"dataset folder", "aft-data.json"};

std::string fresh(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/aft_manifest_" + name + "_" + std::to_string(::getpid());
  aft::fs::remove_all(dir);
  aft::fs::create_directories(dir);
  return dir;
}

// A user's file, written without aft::fs.
void plant(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Manifest, ListsEveryWriteAndFindsWhatAUserAddedAtAnyDepth) {
  const std::string root = fresh("track");
  aft::manifest::track(root);
  aft::fs::write_file_atomic(root + "/config.json", "{}");
  aft::fs::create_directories(root + "/tb");
  aft::fs::append_line(root + "/tb/events", "x");
  aft::fs::create_directories(root + "/checkpoint.tmp");
  aft::fs::write_file_atomic(root + "/checkpoint.tmp/state.json", "{}");
  aft::fs::replace_path(root + "/checkpoint.tmp", root + "/checkpoint");
  aft::manifest::untrack(root);
  EXPECT_EQ(aft::manifest::first_stray(root), "");
  const auto listed = aft::manifest::read(root);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->count("checkpoint/state.json"));  // the renamed tree under its new name
  EXPECT_EQ(aft::output_state(root, {"run directory", "config.json"}), aft::OutputState::ours);

  for (const std::string sub : {"tb", "checkpoint"}) {
    plant(root + "/" + sub + "/note.txt", "mine");
    std::string why;
    EXPECT_EQ(aft::output_state(root, {"run directory", "config.json"}, &why), aft::OutputState::foreign);
    EXPECT_NE(why.find(sub + "/note.txt"), std::string::npos) << why;
    // Removing what aft wrote leaves the user's file, and the folder it is in.
    const std::string copy = fresh("copy_" + sub);
    stdfs::copy(root, copy, stdfs::copy_options::recursive);
    EXPECT_EQ(aft::manifest::remove_listed(copy), 1u);
    EXPECT_EQ(aft::fs::read_file(copy + "/" + sub + "/note.txt"), "mine");
    EXPECT_FALSE(aft::fs::exists(copy + "/config.json"));
    std::remove((root + "/" + sub + "/note.txt").c_str());
  }
  // A folder the user made is a stray too, and nothing inside it is looked at as ours.
  stdfs::create_directories(root + "/tb/mine");
  EXPECT_EQ(aft::manifest::first_stray(root), "'tb/mine/'");
  stdfs::remove(root + "/tb/mine");
  EXPECT_EQ(aft::manifest::remove_listed(root), 0u);
  EXPECT_TRUE(stdfs::is_empty(root));
}

TEST(Manifest, AFolderWithoutOneIsNotOurs) {
  const std::string root = fresh("none");
  plant(root + "/aft-data.json", "{}");
  std::string why;
  EXPECT_EQ(aft::output_state(root, kData, &why), aft::OutputState::foreign);
  EXPECT_NE(why.find(aft::manifest::kName), std::string::npos) << why;
  EXPECT_THROW(aft::check_overwritable(root, kData, {}), aft::Error);
  EXPECT_TRUE(aft::fs::exists(root + "/aft-data.json"));
}

TEST(PrivateBuild, InstallsAndReplacesOnlyItsOwn) {
  const std::string base = fresh("build");
  const std::string out = base + "/data";
  {
    aft::PrivateBuild build(out, kData, false);
    aft::fs::create_directories(build.dir() + "/train/a");
    plant(build.dir() + "/train/a/1.png", "png");
    plant(build.dir() + "/aft-data.json", "{}");
    build.install();
  }
  EXPECT_EQ(aft::output_state(out, kData), aft::OutputState::ours);
  EXPECT_FALSE(aft::fs::exists(out + ".aft-lock"));
  EXPECT_THROW(aft::PrivateBuild(out, kData, false), aft::Error);  // exists, no overwrite
  // A user's file in a class folder: --overwrite refuses, naming it.
  plant(out + "/train/a/mine.txt", "mine");
  try {
    aft::PrivateBuild build(out, kData, true);
    ADD_FAILURE() << "a folder holding a user's file was accepted";
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train/a/mine.txt"), std::string::npos) << e.what();
  }
  std::remove((out + "/train/a/mine.txt").c_str());
  {
    aft::PrivateBuild build(out, kData, true);
    plant(build.dir() + "/aft-data.json", "{\"second\": 1}");
    build.install();
  }
  EXPECT_EQ(aft::fs::read_file(out + "/aft-data.json"), "{\"second\": 1}");
  EXPECT_FALSE(aft::fs::exists(out + "/train"));
  for (const auto& e : stdfs::directory_iterator(base)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
}

TEST(PrivateBuild, NeverClobbersAFolderThatAppearedMeanwhile) {
  const std::string base = fresh("meanwhile");
  const std::string out = base + "/data";
  aft::PrivateBuild build(out, kData, true);
  plant(build.dir() + "/aft-data.json", "{}");
  // The user creates --out while aft writes.
  aft::fs::create_directories(out);
  plant(out + "/thesis.txt", "years of work");
  EXPECT_THROW(build.install(), aft::Error);
  EXPECT_EQ(aft::fs::read_file(out + "/thesis.txt"), "years of work");
  // An empty folder that appeared holds nothing to lose: it is replaced.
  const std::string out2 = base + "/data2";
  aft::PrivateBuild second(out2, kData, false);
  plant(second.dir() + "/aft-data.json", "{}");
  aft::fs::create_directories(out2);
  second.install();
  EXPECT_TRUE(aft::fs::exists(out2 + "/aft-data.json"));
}

TEST(PrivateBuild, TwoWritersOfOneFolderCannotBothRun) {
  const std::string out = fresh("two") + "/data";
  aft::PrivateBuild first(out, kData, false);
  try {
    aft::PrivateBuild second(out, kData, false);
    ADD_FAILURE() << "a second writer was let in";
  } catch (const aft::Error& e) {
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    const std::string what = e.what();
    EXPECT_NE(what.find("pid " + std::to_string(::getpid()) + " on " + host), std::string::npos) << what;
  }
}

TEST(Inputs, AnOutputInsideAnInputIsRefusedThroughSymlinks) {
  const std::string base = fresh("inputs");
  aft::fs::create_directories(base + "/data/train/cat");
  stdfs::create_directory_symlink(base + "/data/train", base + "/link");
  EXPECT_THROW(aft::check_not_an_input(base + "/data/train/ZZ", {base + "/data"}), aft::Error);
  EXPECT_THROW(aft::check_not_an_input(base + "/data/train/cat/deep/er", {base + "/data"}), aft::Error);
  EXPECT_THROW(aft::check_not_an_input(base + "/link/ZZ", {base + "/data"}), aft::Error);
  EXPECT_THROW(aft::check_not_an_input(base, {base + "/data"}), aft::Error);  // holds it
  EXPECT_NO_THROW(aft::check_not_an_input(base + "/run", {base + "/data", "fashion-mnist"}));
}

TEST(Lock, AnEmptyOrStaleLockIsTakenOverByExactlyOneProcess) {
  const std::string dir = fresh("lock");
  plant(dir + "/.lock", "");  // a process killed between creating the file and writing its name
  { aft::DirLock taken(dir); }
  EXPECT_FALSE(aft::fs::exists(dir + "/.lock"));
  // Several processes find a dead holder's lock at once: exactly one gets it.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  plant(dir + "/.lock", std::to_string(dead) + " " + host + "\n");
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) {
    const pid_t c = ::fork();
    if (c == 0) {
      ::close(go[1]);
      char byte;
      if (::read(go[0], &byte, 1) != 0) ::_exit(3);  // wait for the start: the pipe closing
      try {
        aft::DirLock lock(dir);
        ::usleep(500 * 1000);  // hold it while the others try
        ::_exit(0);
      } catch (const aft::Error&) {
        ::_exit(1);
      }
    }
    children.push_back(c);
  }
  ::close(go[0]);
  ::close(go[1]);
  int winners = 0;
  for (pid_t c : children) {
    int status = 0;
    ::waitpid(c, &status, 0);
    winners += WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  EXPECT_EQ(winners, 1);
}

struct Ranged : aft::Options {
  int64_t threads = 1;
  double rate = 0.5;
  void visit(aft::OptionVisitor& v) override {
    v.field("threads", "threads", threads, {0, 64});
    v.field("rate", "rate", rate, {0, 1});
  }
};

TEST(Ranges, DeclaredRangesAreCheckedAndStated) {
  Ranged r;
  EXPECT_NO_THROW(aft::check_ranges(r));
  r.threads = 10000;
  try {
    aft::check_ranges(r);
    ADD_FAILURE() << "out of range accepted";
  } catch (const aft::Error& e) {
    EXPECT_EQ(std::string(e.what()), "--threads 10000: must be in [0, 64]");
  }
  r.threads = 1;
  r.rate = std::nan("");
  EXPECT_THROW(aft::check_ranges(r), aft::Error);
  EXPECT_EQ(aft::range_text({1, std::numeric_limits<double>::infinity()}), "[1, inf)");
  // What goes to config.json is unchanged by a range.
  r.rate = 0.25;
  EXPECT_EQ(aft::options_to_json(r)["rate"], 0.25);
}

}  // namespace
