// bench/suite.sh, the transfer suite's runner, on a tiny task: one source, one target, one seed,
// two methods. It runs both, prints the table with each method's row and the target's winner,
// keeps finished runs when it is run again, and refuses an unknown method.
#include <gtest/gtest.h>

#include <iomanip>
#include <sstream>
#include <string>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"

namespace {

aft_test::Result shell(const std::string& cmd) {
  aft_test::Result r{0, ""};
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(SuiteRunner, RunsEveryMethodPrintsTheTableAndKeepsFinishedRuns) {
  const std::string dir = ::testing::TempDir() + "/aft_suite_runner_test_" + std::to_string(::getpid());
  aft::fs::remove_all(dir);
  aft::fs::create_directories(dir);
  auto r = aft_test::run("data fashion-mnist --out " + dir + "/data/fm --classes 0,1,2 --per-class 16 --test-per-class 6");
  ASSERT_EQ(r.code, 0) << r.output;
  r = aft_test::run("pretrain --model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet --data " +
                    dir + "/data/fm --out " + dir + "/src --epochs 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string env = "SOURCES=tiny=" + dir + "/src DATA=" + dir + "/data TARGETS=fm SEEDS=0 EPOCHS=2 PATIENCE=0 " +
                          "JOBS=2 OUT=" + dir + "/suite ";
  const std::string script = std::string(AFT_SOURCE_DIR) + "/bench/suite.sh " + AFT_BINARY;
  r = shell(env + "METHODS='linear full' " + script);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* method : {"linear", "full"}) {
    EXPECT_TRUE(aft::fs::exists(dir + "/suite/runs/tiny/fm/" + std::string(method) + "/s0/summary.json")) << method;
    EXPECT_NE(r.output.find("done: tiny fm " + std::string(method) + " seed 0"), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("source tiny: test accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(n=1)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("beyond full's spread"), std::string::npos) << r.output;
  EXPECT_TRUE(aft::fs::exists(dir + "/suite/report-tiny.html"));
  // The table's numbers are the runs' own: full's cell is its test accuracy.
  const double full = aft::fs::read_json(dir + "/suite/runs/tiny/fm/full/s0/summary.json").at("test_accuracy");
  std::ostringstream cell;
  cell << std::fixed << std::setprecision(3) << full << " ± 0.000 (n=1)";
  EXPECT_NE(r.output.find("full    " + cell.str()), std::string::npos) << cell.str() << "\n" << r.output;
  // Run again: nothing is trained twice.
  r = shell(env + "METHODS='linear full' " + script);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("done:"), std::string::npos) << r.output;
  r = shell(env + "METHODS='full nosuch' " + script);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown method nosuch"), std::string::npos) << r.output;
}

}  // namespace
