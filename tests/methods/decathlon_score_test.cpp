// The Visual Decathlon score: baseline = 250 per domain (2500 in all), error 0 = 1000,
// error >= 2x the baseline error = 0, a hand-computed case, input forms and errors.
#include <gtest/gtest.h>

#include "aft/core/error.h"

#include <filesystem>

#include "aft/core/fs.h"
#include "aft/data/decathlon_score.h"
#include "tests/data/data_test_util.h"

namespace {

using aft::data::decathlon_score;
using nlohmann::json;

TEST(DecathlonScore, BaselineZeroErrorAndCeiling) {
  json baseline = json::object(), perfect = json::object(), awful = json::object();
  for (const auto& d : aft::data::decathlon_domains()) {
    baseline[d.key] = {{"accuracy", d.baseline_accuracy}};
    perfect[d.key] = 1.0;
    // Twice the baseline error, or worse (clamped to 100%), earns nothing.
    awful[d.key] = {{"error", std::min(100.0, 2.0 * (100.0 - d.baseline_accuracy) + 0.5)}};
  }
  const auto base = decathlon_score(baseline, "baseline");
  ASSERT_EQ(base.rows.size(), 10u);
  for (const auto& r : base.rows) EXPECT_NEAR(r.score, 250.0, 1e-9) << r.domain;
  EXPECT_NEAR(base.total, 2500.0, 1e-9);
  EXPECT_TRUE(base.missing.empty());
  EXPECT_NEAR(decathlon_score(perfect, "perfect").total, 10000.0, 1e-9);
  EXPECT_EQ(decathlon_score(awful, "awful").total, 0.0);
  // Exactly at 2x the baseline error: 0.
  EXPECT_EQ(decathlon_score({{"aircraft", {{"error", 2 * (100 - 60.34)}}}}, "x").total, 0.0);
}

TEST(DecathlonScore, HandComputedCaseAndInputForms) {
  // Aircraft: baseline error 39.66, E_max 79.32. Accuracy 70% -> error 30:
  // 1000 / 79.32^2 * (79.32 - 30)^2 = 1000 * (49.32 / 79.32)^2 = 386.6168...
  const double expected_aircraft = 1000.0 / (79.32 * 79.32) * (79.32 - 30.0) * (79.32 - 30.0);
  // SVHN: baseline error 3.45, E_max 6.9; error 5 -> 1000 / 6.9^2 * 1.9^2 = 75.824...
  const double expected_svhn = 1000.0 / (6.9 * 6.9) * 1.9 * 1.9;
  const json input = {{"FGVC-Aircraft", 0.70}, {"svhn", {{"error", 5.0}}}};
  const auto s = decathlon_score(input, "hand");
  ASSERT_EQ(s.rows.size(), 2u);
  EXPECT_EQ(s.rows[0].domain, "aircraft");
  EXPECT_NEAR(s.rows[0].score, expected_aircraft, 1e-9);
  EXPECT_NEAR(s.rows[0].score, 386.6168, 1e-3);
  EXPECT_NEAR(s.rows[1].score, expected_svhn, 1e-9);
  EXPECT_NEAR(s.total, expected_aircraft + expected_svhn, 1e-9);
  EXPECT_EQ(s.missing.size(), 8u);
  EXPECT_NEAR(s.to_json().at("domains").at("svhn").at("accuracy").get<double>(), 95.0, 1e-9);

  // The same results as percentages, a summary.json object, and a run directory.
  const std::string dir = aft::data::testing::temp_dir("decathlon_score");
  std::filesystem::create_directories(dir + "/runs/air");
  aft::fs::write_json_atomic(dir + "/runs/air/summary.json", {{"test_accuracy", 0.70}});
  for (const json& aircraft : {json{{"accuracy", 70.0}}, json{{"test_accuracy", 0.7}}, json("runs/air"),
                               json("runs/air/summary.json")}) {
    const auto again = decathlon_score({{"aircraft", aircraft}}, "forms", dir);
    EXPECT_NEAR(again.total, expected_aircraft, 1e-9) << aircraft.dump();
  }
}

TEST(DecathlonScore, ClearErrors) {
  auto message = [](const json& input) {
    try {
      decathlon_score(input, "in.json");
    } catch (const aft::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto unknown = message({{"mnist", 0.9}});
  EXPECT_NE(unknown.find("unknown Decathlon domain 'mnist'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("imagenet12, aircraft, cifar100, daimlerpedcls, dtd, gtsrb, vgg-flowers, omniglot, svhn, ucf101"),
            std::string::npos)
      << unknown;
  EXPECT_NE(message({{"svhn", 96.5}}).find("outside [0, 1]"), std::string::npos);
  EXPECT_NE(message({{"svhn", {{"accuracy", 96.5}, {"error", 3.5}}}}).find("exactly one"), std::string::npos);
  EXPECT_NE(message({{"imagenet", 0.5}, {"ImageNet12", 0.6}}).find("given twice"), std::string::npos);
  EXPECT_NE(message(json::array()).find("expected a JSON object"), std::string::npos);
}

}  // namespace
