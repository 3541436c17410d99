#include "aft/report/html_report.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/run/job.h"
#include "aft/methods/registry.h"
#include "aft/models/weights.h"
#include "tests/data/data_test_util.h"
#include "tests/report/event_reader.h"
#include "tests/train/tiny_task.h"

namespace {

using nlohmann::json;
namespace stdfs = std::filesystem;

bool has_chart_js() { return aft::fs::exists(aft::report::kDefaultChartJs); }

// The Chart.js configurations the page renders, read back from its JSON block.
json page_charts(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"aft-charts\">";
  const size_t start = html.find(open);
  if (start == std::string::npos) return json();
  const size_t end = html.find("</script>", start);
  return json::parse(html.substr(start + open.size(), end - start - open.size()));
}

json chart(const json& charts, const std::string& id) {
  for (const auto& c : charts) {
    if (c.at("id") == id) return c.at("config");
  }
  return json();
}

bool contains(const std::string& html, const std::string& needle) { return html.find(needle) != std::string::npos; }

// Tiny fine-tuning runs of the methods with method-specific report sections, made once.
class ReportRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = aft::data::testing::temp_dir("report_runs");
    aft::data::testing::make_folder(dir_ + "/data", {"a", "b", "c"}, 8, 4);
    auto source = aft::testing::tiny_resnet(3, 7);
    aft::models::save_weights(*source, dir_ + "/source.safetensors", aft::models::model_metadata(*source));
    for (const std::string method : {"full", "contribution", "partial", "spottune"}) {
      const auto& info = aft::methods::find_method(method);
      aft::run::JobSpec spec;
      spec.data = dir_ + "/data";
      spec.out = dir_ + "/" + method;
      spec.model.weights = dir_ + "/source.safetensors";
      spec.method = method;
      spec.method_options = info.make_options();
      if (info.demo_budget) info.demo_budget(*spec.method_options);
      spec.train = aft::testing::tiny_options(2);
      spec.train.val_fraction = 0.25;
      spec.quiet = true;
      aft::run::run_job(spec);
    }
  }
  static std::string report_of(const std::vector<std::string>& runs) {
    std::vector<aft::report::RunFiles> files;
    for (const auto& r : runs) files.push_back(aft::report::read_run(dir_ + "/" + r));
    return aft::report::render_report(files, "/* Chart.js stand-in */");
  }
  static std::string dir_;
};
std::string ReportRuns::dir_;

TEST_F(ReportRuns, EveryRunHasConfigurationAndCurves) {
  for (const std::string method : {"full", "contribution", "partial", "spottune"}) {
    const std::string html = report_of({method});
    for (const char* id : {"id=\"run0\"", "id=\"run0-config\"", "id=\"run0-curves\"", "id=\"run0-loss\"",
                           "id=\"run0-accuracy\"", "id=\"run0-rate\""}) {
      EXPECT_TRUE(contains(html, id)) << method << ": " << id;
    }
    EXPECT_TRUE(contains(html, "train.lr")) << "flattened configuration";
    EXPECT_FALSE(contains(html, "id=\"compare0\"")) << "one run has nothing to compare";
    const auto charts = page_charts(html);
    const auto metrics = aft::report::read_run(dir_ + "/" + method).metrics;
    ASSERT_EQ(metrics.size(), 2u);
    auto acc = chart(charts, "run0-accuracy");
    ASSERT_TRUE(acc.is_object()) << method;
    EXPECT_EQ(acc["data"]["datasets"][1]["label"], "val accuracy");
    EXPECT_EQ(acc["data"]["datasets"][1]["data"][1], metrics[1].at("val_accuracy"));
    EXPECT_EQ(acc["data"]["datasets"][2]["data"][1], aft::fs::read_json(dir_ + "/" + method + "/summary.json")["test_accuracy"]);
  }
}

TEST_F(ReportRuns, TestSplitShowsPerClassAccuracyAndConfusion) {
  const std::string html = report_of({"full"});
  const auto summary = aft::fs::read_json(dir_ + "/full/summary.json");
  const auto& metrics = summary.at("test_metrics");
  EXPECT_TRUE(contains(html, "id=\"run0-test-metrics\""));
  EXPECT_TRUE(contains(html, "id=\"run0-confusion\""));
  auto per_class = chart(page_charts(html), "run0-per-class");
  ASSERT_TRUE(per_class.is_object());
  EXPECT_EQ(per_class["data"]["datasets"][0]["data"], metrics.at("per_class_accuracy"));
  EXPECT_EQ(per_class["data"]["labels"], aft::fs::read_json(dir_ + "/full/config.json").at("classes"));
  // The confusion matrix counts every test image once, and its diagonal is the accuracy.
  int64_t total = 0, diagonal = 0;
  const auto& confusion = metrics.at("confusion");
  for (size_t r = 0; r < confusion.size(); ++r) {
    for (size_t c = 0; c < confusion[r].size(); ++c) {
      total += confusion[r][c].get<int64_t>();
      if (r == c) diagonal += confusion[r][c].get<int64_t>();
    }
  }
  EXPECT_EQ(total, metrics.at("samples").get<int64_t>());
  EXPECT_NEAR(static_cast<double>(diagonal) / total, summary.at("test_accuracy").get<double>(), 1e-9);
  EXPECT_GE(summary.at("test_top5_accuracy").get<double>(), summary.at("test_accuracy").get<double>());
}

TEST_F(ReportRuns, NeverOverwritesAFileItDidNotWrite) {
  if (!has_chart_js()) GTEST_SKIP() << "libjs-chart.js is not installed";
  const std::string mine = dir_ + "/notes.html";
  aft::fs::write_file_atomic(mine, "<html>my notes</html>");
  EXPECT_THROW(aft::report::write_report({dir_ + "/full"}, mine, aft::report::kDefaultChartJs), aft::Error);
  EXPECT_EQ(aft::fs::read_file(mine), "<html>my notes</html>");
  const std::string report = dir_ + "/again.html";
  aft::report::write_report({dir_ + "/full"}, report, aft::report::kDefaultChartJs);
  EXPECT_NO_THROW(aft::report::write_report({dir_ + "/full"}, report, aft::report::kDefaultChartJs)) << "its own report is replaced";
}

TEST_F(ReportRuns, ContributionShowsRatiosAndPsoConvergence) {
  const std::string html = report_of({"contribution"});
  const auto mr = aft::fs::read_json(dir_ + "/contribution/summary.json").at("method_report");
  EXPECT_TRUE(contains(html, "id=\"run0-ratios\""));
  EXPECT_TRUE(contains(html, "id=\"run0-pso\""));
  const auto charts = page_charts(html);
  auto ratios = chart(charts, "run0-ratios-chart");
  ASSERT_EQ(ratios["data"]["labels"].size(), mr.at("layers").size());
  EXPECT_EQ(ratios["data"]["datasets"][0]["data"][0], mr.at("layers")[0].at("ratio"));
  auto pso = chart(charts, "run0-pso-chart");
  const auto& gbest = mr.at("search").at("gbest_per_iteration");
  ASSERT_EQ(pso["data"]["datasets"][0]["data"].size(), gbest.size());
  EXPECT_EQ(pso["data"]["datasets"][0]["data"].back()["y"], gbest.back());
  EXPECT_EQ(pso["data"]["datasets"][1]["data"].size(), mr.at("search").at("evaluations").size());
  EXPECT_FALSE(contains(html, "id=\"run0-angles\""));
  EXPECT_FALSE(contains(html, "id=\"run0-routing\""));
}

TEST_F(ReportRuns, PartialMarksTheChosenUnits) {
  const std::string html = report_of({"partial"});
  const auto units = aft::fs::read_json(dir_ + "/partial/summary.json").at("method_report").at("angle_selection").at("units");
  EXPECT_TRUE(contains(html, "id=\"run0-angles\""));
  auto angles = chart(page_charts(html), "run0-angles-chart");
  ASSERT_EQ(angles["data"]["labels"].size(), units.size());
  size_t chosen = 0, marked = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const bool is_chosen = units[i].at("chosen").get<bool>();
    chosen += is_chosen;
    const auto& tuned = angles["data"]["datasets"][0]["data"][i];
    const auto& frozen = angles["data"]["datasets"][1]["data"][i];
    EXPECT_EQ(tuned.is_null(), !is_chosen) << i;
    EXPECT_EQ(frozen.is_null(), is_chosen) << i;
    marked += !tuned.is_null();
    EXPECT_EQ(is_chosen ? tuned : frozen, units[i].at("angle"));
  }
  EXPECT_GT(chosen, 0u);
  EXPECT_EQ(marked, chosen);
  EXPECT_TRUE(contains(html, "Tuned units: "));
}

TEST_F(ReportRuns, SpotTuneShowsPerBlockUsage) {
  const std::string html = report_of({"spottune"});
  const auto mr = aft::fs::read_json(dir_ + "/spottune/summary.json").at("method_report");
  EXPECT_TRUE(contains(html, "id=\"run0-routing\""));
  const auto charts = page_charts(html);
  EXPECT_EQ(chart(charts, "run0-routing-chart")["data"]["datasets"][0]["data"], mr.at("tuned_fraction"));
  EXPECT_EQ(chart(charts, "run0-routing-chart")["data"]["labels"], mr.at("blocks"));
  EXPECT_EQ(chart(charts, "run0-routing-histogram")["data"]["datasets"][0]["data"], mr.at("tuned_blocks_histogram"));
  // Per class, named from config.json's class list.
  const auto classes = aft::fs::read_json(dir_ + "/spottune/config.json").at("classes");
  const auto by_class = chart(charts, "run0-routing-by-class")["data"];
  ASSERT_EQ(by_class["labels"].size(), mr.at("by_class").size());
  ASSERT_FALSE(mr.at("by_class").empty());
  for (size_t i = 0; i < mr.at("by_class").size(); ++i) {
    const auto& row = mr.at("by_class")[i];
    EXPECT_EQ(by_class["labels"][i], classes[row.at("class").get<size_t>()]);
    EXPECT_EQ(by_class["datasets"][0]["data"][i], row.at("mean_tuned_blocks"));
  }
}

TEST_F(ReportRuns, SeveralRunsOnTheSameDataAreCompared) {
  const std::string html = report_of({"full", "contribution", "partial", "spottune"});
  EXPECT_TRUE(contains(html, "id=\"compare0\""));
  const auto charts = page_charts(html);
  auto params = chart(charts, "compare0-params");
  ASSERT_EQ(params["data"]["datasets"].size(), 4u);
  EXPECT_EQ(params["options"]["scales"]["x"]["type"], "logarithmic");
  for (const auto& d : params["data"]["datasets"]) {
    const auto s = aft::fs::read_json(dir_ + "/" + d.at("label").get<std::string>() + "/summary.json");
    EXPECT_EQ(d["data"][0]["x"], s.at("trainable_params"));
    EXPECT_EQ(d["data"][0]["y"], s.at("test_accuracy"));
  }
  // Every run keeps its own sections, with distinct ids.
  for (const char* id : {"id=\"run1-ratios\"", "id=\"run2-angles\"", "id=\"run3-routing\""}) {
    EXPECT_TRUE(contains(html, id)) << id;
  }
}

TEST_F(ReportRuns, TensorboardEventsAreInTheRunDirectory) {
  for (const std::string method : {"contribution", "spottune"}) {
    const std::string tb = dir_ + "/" + method + "/tb";
    ASSERT_TRUE(aft::fs::is_directory(tb)) << method;
    std::vector<std::string> files;
    for (const auto& e : stdfs::directory_iterator(tb)) files.push_back(e.path().string());
    ASSERT_EQ(files.size(), 1u);
    std::map<std::string, std::map<int64_t, float>> s;
    for (const auto& e : aft::testing::read_events(aft::fs::read_file(files[0]))) {
      for (const auto& v : e.values) s[v.tag][e.step] = v.simple_value;
    }
    EXPECT_EQ(s["train/loss"].size(), 2u);
    EXPECT_EQ(s["val/accuracy"].size(), 2u);
    EXPECT_EQ(s["test/accuracy"].size(), 1u);
    const auto mr = aft::fs::read_json(dir_ + "/" + method + "/summary.json").at("method_report");
    if (method == "contribution") {
      const auto& gbest = mr.at("search").at("gbest_per_iteration");
      ASSERT_EQ(s["method/search/gbest_per_iteration"].size(), gbest.size());
      EXPECT_EQ(s["method/search/gbest_per_iteration"][0], static_cast<float>(gbest[0].get<double>()));
    } else {
      EXPECT_EQ(s["method/mean_tuned_blocks"][0], static_cast<float>(mr.at("mean_tuned_blocks").get<double>()));
    }
  }
}

TEST_F(ReportRuns, MultiSourceReportsEachSourceAndTheEnsemble) {
  // The method_report shape of a multi-source run: per-source accuracies and the ensemble's.
  const std::string run = dir_ + "/multisource-like";
  stdfs::remove_all(run);
  stdfs::copy(dir_ + "/full", run, stdfs::copy_options::recursive);
  auto summary = aft::fs::read_json(run + "/summary.json");
  summary["method"] = "multisource";
  summary["method_report"] = {{"sources", {{{"name", "fmnist"}, {"test_accuracy", 0.5}, {"val_accuracy", 0.4}},
                                           {{"name", "glyphs"}, {"test_accuracy", 0.625}, {"val_accuracy", 0.5}}}},
                              {"ensemble", {{"test_accuracy", 0.75}, {"val_accuracy", 0.625}}}};
  aft::fs::write_json_atomic(run + "/summary.json", summary);
  const std::string html = report_of({"multisource-like"});
  EXPECT_TRUE(contains(html, "id=\"run0-sources\""));
  auto sources = chart(page_charts(html), "run0-sources-chart");
  EXPECT_EQ(sources["data"]["labels"], json({"fmnist", "glyphs", "ensemble"}));
  ASSERT_EQ(sources["data"]["datasets"].size(), 2u);
  EXPECT_EQ(sources["data"]["datasets"][0]["label"], "test_accuracy");
  EXPECT_EQ(sources["data"]["datasets"][0]["data"], json({0.5, 0.625, 0.75}));
  EXPECT_EQ(sources["data"]["datasets"][1]["data"], json({0.4, 0.5, 0.625}));
  // The shape aft's multisource method writes: sources named by path, the ensemble at top level.
  summary["method_report"] = {{"sources", {{{"source", "/x/runs/source"}, {"test_accuracy", 0.5}},
                                           {{"source", "/x/runs/source-glyphs/"}, {"test_accuracy", 0.625}}}},
                              {"ensemble_test_accuracy", 0.75}};
  aft::fs::write_json_atomic(run + "/summary.json", summary);
  auto real = chart(page_charts(report_of({"multisource-like"})), "run0-sources-chart");
  EXPECT_EQ(real["data"]["labels"], json({"source", "source-glyphs", "ensemble"}));
  EXPECT_EQ(real["data"]["datasets"][0]["data"], json({0.5, 0.625, 0.75}));
  // A method_report with none of the known keys renders without method sections.
  summary["method_report"] = {{"something_new", {1, 2, 3}}};
  aft::fs::write_json_atomic(run + "/summary.json", summary);
  const std::string plain = report_of({"multisource-like"});
  for (const char* id : {"run0-sources", "run0-ratios", "run0-angles", "run0-routing", "run0-pso"}) {
    EXPECT_FALSE(contains(plain, std::string("id=\"") + id + "\"")) << id;
  }
  EXPECT_TRUE(contains(plain, "something_new"));
}

TEST_F(ReportRuns, TextFromTheRunIsEscaped) {
  const std::string run = dir_ + "/hostile";
  stdfs::remove_all(run);
  stdfs::copy(dir_ + "/full", run, stdfs::copy_options::recursive);
  auto config = aft::fs::read_json(run + "/config.json");
  config["data"] = "</script><script>alert(1)</script>";
  aft::fs::write_json_atomic(run + "/config.json", config);
  auto summary = aft::fs::read_json(run + "/summary.json");
  summary["model"] = "<b onload=x>&";
  // (a source name is shown by its last path component, so the hostile one has no '/')
  summary["method_report"] = {{"sources", {{{"name", "<script><!--"}, {"test_accuracy", 0.5}}}}};
  aft::fs::write_json_atomic(run + "/summary.json", summary);
  const std::string html = report_of({"hostile"});
  EXPECT_FALSE(contains(html, "alert(1)</script>"));
  EXPECT_FALSE(contains(html, "<b onload"));
  EXPECT_FALSE(contains(html, "<script><!--"));
  EXPECT_TRUE(contains(html, "&lt;b onload=x&gt;&amp;"));
  size_t scripts = 0;
  for (size_t at = 0; (at = html.find("<script", at)) != std::string::npos; ++at) ++scripts;
  EXPECT_EQ(scripts, 4u) << "error hook, Chart.js, chart data, renderer";
  // The JSON block still means the same after escaping.
  EXPECT_EQ(chart(page_charts(html), "run0-sources-chart")["data"]["labels"][0], "<script><!--");
  EXPECT_EQ(aft::report::script_json(json("a</script>&")), "\"a\\u003c/script\\u003e\\u0026\"");
}

TEST_F(ReportRuns, BadInputWritesNothing) {
  const std::string out = dir_ + "/bad.html";
  aft::fs::remove_all(out);
  EXPECT_THROW(aft::report::write_report({dir_ + "/full", dir_ + "/no-such-run"}, out), aft::Error);
  EXPECT_THROW(aft::report::write_report({dir_ + "/data"}, out), aft::Error);  // a directory, not a run
  try {
    aft::report::write_report({dir_ + "/full"}, out, dir_ + "/missing-chart.js");
    FAIL() << "a missing Chart.js must be an error";
  } catch (const aft::Error& e) {
    EXPECT_TRUE(contains(e.what(), "libjs-chart.js")) << e.what();
  }
  EXPECT_FALSE(aft::fs::exists(out));
}

TEST_F(ReportRuns, WrittenReportInlinesChartJs) {
  if (!has_chart_js()) GTEST_SKIP() << "libjs-chart.js is not installed";
  const std::string out = dir_ + "/out/report.html";
  aft::report::write_report({dir_ + "/full", dir_ + "/spottune"}, out);
  const std::string html = aft::fs::read_file(out);
  EXPECT_TRUE(contains(html, "Chart.js v")) << "the library itself is inlined";
  EXPECT_FALSE(contains(html, "src=\"http")) << "no network needed";
  EXPECT_FALSE(contains(html, "<script src"));
}

// Opens the report in headless Chromium (tools/check_report.sh): any JavaScript error, or a
// chart that did not render, fails; a broken copy of the page must fail too.
TEST_F(ReportRuns, RendersInHeadlessChromiumWithoutJavaScriptErrors) {
  if (!has_chart_js()) GTEST_SKIP() << "libjs-chart.js is not installed";
  if (std::system("command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Chromium is not installed";
  }
  const std::string script = std::string(AFT_SOURCE_DIR) + "/tools/check_report.sh";
  const std::string good = dir_ + "/browser/report.html", shot = dir_ + "/browser/report.png";
  aft::report::write_report({dir_ + "/full", dir_ + "/contribution", dir_ + "/partial", dir_ + "/spottune"}, good);
  const int ok = std::system(("'" + script + "' '" + good + "' '" + shot + "' 1280x1600 >/dev/null 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(ok), 0) << "run: " << script << " " << good;
  EXPECT_TRUE(aft::fs::exists(shot));
  if (aft::fs::exists(shot)) EXPECT_EQ(aft::fs::read_file(shot).substr(1, 3), "PNG");

  std::string html = aft::fs::read_file(good);
  const std::string bad = dir_ + "/browser/broken.html";
  const size_t at = html.find("new Chart(");
  ASSERT_NE(at, std::string::npos);
  aft::fs::write_file_atomic(bad, html.replace(at, 10, "new Chartt("));
  const int broken = std::system(("'" + script + "' '" + bad + "' >/dev/null 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(broken), 1) << "an injected JavaScript error must fail the check";
}

}  // namespace
