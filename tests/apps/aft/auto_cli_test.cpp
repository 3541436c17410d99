// aft finetune --method auto from the command line: its help names the candidates and the
// budget's unit, bad candidates are refused in one line, and a race killed after its first step
// resumes without training any finished step again.
#include <gtest/gtest.h>

#include <string>

#include "aft/core/fs.h"
#include "tests/apps/aft/cli_util.h"

namespace {

using aft_test::run;

TEST(AutoCli, HelpListsCandidatesAndTheBudgetUnit) {
  const auto r = run("finetune --method auto --help");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* needle : {"--budget", "full fine-tune", "--candidates", "linear@3", "lp-ft", "partial-angle",
                             "contribution-fast", "spottune", "--folds"}) {
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " missing from:\n" << r.output;
  }
  const auto methods = run("methods");
  EXPECT_NE(methods.output.find("auto"), std::string::npos) << methods.output;
}

TEST(AutoCli, RefusesUnknownCandidatesAndBudgets) {
  aft_test::expect_one_line_error(run("finetune --method auto --candidates full,nosuch --weights x --data y --out z"),
                                  "nosuch");
  aft_test::expect_one_line_error(run("finetune --method auto --budget -1 --weights x --data y --out z"), "--budget");
  aft_test::expect_one_line_error(run("finetune --method auto --candidates full@zero --weights x --data y --out z"),
                                  "METHOD@SCALE");
}

TEST(AutoCli, KilledRaceResumesWithoutRepeatingAFinishedStep) {
  const std::string dir = ::testing::TempDir() + "/aft_auto_cli_test_" + std::to_string(::getpid());
  aft::fs::remove_all(dir);
  aft::fs::create_directories(dir);
  const std::string tiny = " --model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet";
  auto r = run("data fashion-mnist --out " + dir + "/fm --classes 0,1,2 --per-class 16 --test-per-class 6");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("pretrain" + tiny + " --data " + dir + "/fm --out " + dir + "/src --epochs 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string args = "finetune --method auto --candidates linear@3,full,l2sp --folds 1 --first-rung 1 "
                           "--epochs 4 --val-fraction 0.25 --weights " + dir + "/src --data " + dir + "/fm --out " +
                           dir + "/race" + tiny;
  const std::string race_json = dir + "/race/race.json";
  // Killed once race.json holds the first finished step.
  const bool killed = aft_test::start_and_kill_when(args, [&] {
    try {
      return aft::fs::exists(race_json) && aft::fs::read_json(race_json).at("steps").size() >= 1;
    } catch (const std::exception&) {
      return false;  // caught between write and rename: not there yet
    }
  });
  ASSERT_TRUE(killed) << "the race ended before it could be killed";
  const auto first = aft::fs::read_json(race_json);
  r = run("finetune --resume " + dir + "/race --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto done = aft::fs::read_json(race_json);
  EXPECT_EQ(done.at("session").get<int>(), 2);
  // Every step the killed session finished was never trained again: one session entry, the first.
  for (const auto& [key, step] : first.at("steps").items()) {
    const auto& sessions = done.at("steps").at(key).at("sessions");
    ASSERT_GE(sessions.size(), 1u) << key;
    EXPECT_EQ(sessions[0].at("session").get<int>(), 1) << key;
    for (size_t i = 1; i < sessions.size(); ++i) {
      EXPECT_GT(sessions[i].at("from_epoch").get<int>(), 0) << key << ": a later rung restarted from scratch";
    }
  }
  // And every rung of every candidate moved forward from where the last one stopped.
  for (const auto& [key, step] : done.at("steps").items()) {
    int64_t reached = 0;
    for (const auto& s : step.at("sessions")) {
      EXPECT_EQ(s.at("from_epoch").get<int64_t>(), reached) << key;
      reached = s.at("to_epoch").get<int64_t>();
    }
  }
  const auto summary = aft::fs::read_json(dir + "/race/summary.json");
  EXPECT_GE(summary.at("test_accuracy").get<double>(), 0.0);
  r = run("eval --run " + dir + "/race --json");
  EXPECT_EQ(r.code, 0) << r.output;
  // Issue 26: the resumed race spent what an uninterrupted one spends (a step recovered from its
  // checkpoint keeps its work), and neither spent more than its budget (the default, 3).
  std::string again = args;
  again.replace(again.find(dir + "/race"), dir.size() + 5, dir + "/race-whole");
  r = run(again);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto whole = aft::fs::read_json(dir + "/race-whole/summary.json");
  EXPECT_NEAR(summary.at("budget_spent").get<double>(), whole.at("budget_spent").get<double>(), 1e-9);
  EXPECT_LE(whole.at("budget_spent").get<double>(), 3.0);
  EXPECT_EQ(summary.at("chosen").get<std::string>(), whole.at("chosen").get<std::string>());
  // A --budget that cannot pay for the cheapest race is refused in one line naming its cost.
  std::string poor = args;
  poor.replace(poor.find(dir + "/race"), dir.size() + 5, dir + "/race-poor");
  aft_test::expect_one_line_error(run(poor + " --budget 0.05"), "--budget 0.05: the cheapest race of 3 candidates");
  EXPECT_FALSE(aft::fs::exists(dir + "/race-poor"));
}

}  // namespace

namespace {

TEST(RankCli, ScoresEverySourceAndRanksTheTaskTrainedOneFirst) {
  const std::string dir = ::testing::TempDir() + "/aft_rank_cli_test_" + std::to_string(::getpid());
  aft::fs::remove_all(dir);
  aft::fs::create_directories(dir);
  const std::string tiny = " --model resnet18 --stem small --width 0.125 --batch-size 8 --threads 1 --quiet";
  auto r = aft_test::run("data fashion-mnist --out " + dir + "/fm --classes 0,1,7 --per-class 24 --test-per-class 4");
  ASSERT_EQ(r.code, 0) << r.output;
  // One source trained on the target's own classes for a few epochs, one barely trained.
  r = aft_test::run("pretrain" + tiny + " --data " + dir + "/fm --out " + dir + "/trained --epochs 6 --lr 0.05");
  ASSERT_EQ(r.code, 0) << r.output;
  r = aft_test::run("pretrain" + tiny + " --data " + dir + "/fm --out " + dir + "/raw --epochs 1 --lr 0.0001");
  ASSERT_EQ(r.code, 0) << r.output;
  r = aft_test::run("rank --weights " + dir + "/raw --weights " + dir + "/trained --data " + dir + "/fm --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rows = nlohmann::json::parse(r.output);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("images").get<int>(), 72);
  for (const char* score : {"logme", "leep", "nce", "h_score"}) {
    EXPECT_GT(rows[1].at(score).get<double>(), rows[0].at(score).get<double>()) << score << ":\n" << r.output;
    EXPECT_EQ(rows[1].at("rank").at(score).get<int>(), 1) << score;
  }
  const auto table = aft_test::run("rank --weights " + dir + "/raw --weights " + dir + "/trained --data " + dir +
                                   "/fm --threads 1");
  ASSERT_EQ(table.code, 0) << table.output;
  EXPECT_LT(table.output.find("/trained"), table.output.find("/raw")) << "the table is not ordered by LogME:\n"
                                                                      << table.output;
  aft_test::expect_one_line_error(aft_test::run("rank --weights " + dir + "/nosuch --data " + dir + "/fm"), "nosuch");
}

}  // namespace
