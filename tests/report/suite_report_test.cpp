// aft report --suite: the transfer suite's table from runs laid out as TARGET/METHOD/SEED, on
// made-up summaries whose means, spreads, ranks and winners are worked out by hand.
#include "aft/report/suite_report.h"

#include <gtest/gtest.h>

#include <string>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/report/html_report.h"
#include "tests/data/data_test_util.h"

namespace {

void summary(const std::string& root, const std::string& target, const std::string& method, int seed, double acc,
             int64_t trainable = 100) {
  const auto dir = root + "/" + target + "/" + method + "/s" + std::to_string(seed);
  aft::fs::create_directories(dir);
  aft::fs::write_json_atomic(dir + "/summary.json",
                             {{"test_accuracy", acc}, {"trainable_params", trainable}, {"seconds", 2.0}});
}

TEST(SuiteReport, MeansSpreadsRanksAndWinnersFromTheRuns) {
  const auto root = aft::data::testing::temp_dir("suite_report") + "/runs";
  // Target "a": lp-ft 0.80/0.82/0.84 (mean 0.82, std 0.02) beats full 0.70/0.71/0.72 (0.71 ± 0.01)
  // beyond the spread; linear 0.50 ± 0. Target "b": full 0.90 ± 0.01, lp-ft 0.895 ± 0.005 (within).
  for (int s = 0; s < 3; ++s) {
    summary(root, "a", "full", s, 0.70 + 0.01 * s, 1000);
    summary(root, "a", "lp-ft", s, 0.80 + 0.02 * s, 1000);
    summary(root, "a", "linear", s, 0.50, 10);
    summary(root, "b", "full", s, 0.89 + 0.01 * s, 1000);
    summary(root, "b", "lp-ft", s, 0.89 + 0.005 * s, 1000);
  }
  aft::fs::create_directories(root + "/b/linear/s0");  // unfinished: no summary.json, skipped
  aft::fs::write_file_atomic(root + "/a/full/s0.seconds", "7.0\n");  // the runner's wall time wins
  const auto t = aft::report::read_suite(root);
  EXPECT_EQ(t.runs, 15);
  EXPECT_EQ(t.targets, (std::vector<std::string>{"a", "b"}));
  const auto& lp = t.cells.at({"lp-ft", "a"});
  EXPECT_NEAR(lp.mean, 0.82, 1e-12);
  EXPECT_NEAR(lp.std, 0.02, 1e-12);
  EXPECT_EQ(lp.n, 3);
  // Ranks: a: lp-ft 1, full 2, linear 3; b: full 1, lp-ft 2. Means: lp-ft 1.5, full 1.5, linear 3.
  EXPECT_DOUBLE_EQ(t.mean_rank.at("lp-ft"), 1.5);
  EXPECT_DOUBLE_EQ(t.mean_rank.at("full"), 1.5);
  EXPECT_DOUBLE_EQ(t.mean_rank.at("linear"), 3.0);
  EXPECT_EQ(t.ranked_on.at("linear"), 1);
  EXPECT_EQ(t.methods.back(), "linear");
  ASSERT_EQ(t.verdicts.size(), 2u);
  EXPECT_EQ(t.verdicts[0].winner, "lp-ft");
  EXPECT_EQ(t.verdicts[0].beyond_full, (std::vector<std::string>{"lp-ft"}));
  EXPECT_EQ(t.verdicts[1].winner, "full");
  EXPECT_TRUE(t.verdicts[1].beyond_full.empty());
  EXPECT_DOUBLE_EQ(t.trainable.at("linear"), 10);
  EXPECT_DOUBLE_EQ(t.seconds.at("full"), (7.0 + 5 * 2.0) / 6);
  const auto text = aft::report::suite_text(t, true);
  EXPECT_NE(text.find("| linear | 0.500 ± 0.000 | - | 3.00 (1) | 10 | 2 |"), std::string::npos) << text;
  EXPECT_NE(text.find("| a | lp-ft | 0.820 ± 0.020 | 0.710 ± 0.010 | lp-ft |"), std::string::npos) << text;
  const auto html = aft::report::render_suite_report(t, "suite", "/* no chart.js */");
  EXPECT_NE(html.find("id=\"suite-accuracy\""), std::string::npos);
  EXPECT_NE(html.find("0.820 ± 0.020"), std::string::npos);
}

TEST(SuiteReport, ARootWithoutFinishedRunsIsRefused) {
  const auto root = aft::data::testing::temp_dir("suite_report_empty");
  aft::fs::create_directories(root + "/a/full/s0");
  EXPECT_THROW(aft::report::read_suite(root), aft::Error);
  EXPECT_THROW(aft::report::read_suite(root + "/missing"), aft::Error);
}

}  // namespace
