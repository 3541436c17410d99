// aft report: one self-contained HTML page (configuration, curves, method findings, and a
// comparison of runs on the same data) for one or more finished run directories; with --suite,
// the transfer suite's table over bench/suite.sh's runs, also printed as text or Markdown.
#include <iostream>

#include "aft/core/error.h"
#include "aft/report/html_report.h"
#include "aft/report/suite_report.h"
#include "apps/aft/commands.h"

namespace aft::cli {

void add_report_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> runs;
    std::string suite;
    bool markdown = false;
    std::string out = "report.html";
    std::string chart_js = report::kDefaultChartJs;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("report", "write a self-contained HTML report of one or more runs");
  sub->add_option("runs", a->runs, "finished run directories (several on the same data are compared)")->expected(0, -1);
  sub->add_option("--suite", a->suite,
                  "a transfer suite's runs, ROOT/TARGET/METHOD/SEED as bench/suite.sh writes them: per method and "
                  "target the mean ± std test accuracy over seeds, mean ranks, winners; printed and in --out");
  sub->add_flag("--markdown", a->markdown, "with --suite: print the tables as Markdown");
  sub->add_option("--out", a->out, "HTML file to write (atomically)")->capture_default_str();
  sub->add_option("--chart-js", a->chart_js, "Chart.js UMD bundle to inline (Debian: libjs-chart.js)")
      ->capture_default_str();
  sub->callback([a]() {
    if (!a->suite.empty()) {
      check(a->runs.empty(), "aft report: give run directories or --suite ROOT, not both");
      const auto table = report::read_suite(a->suite);
      const auto html = report::render_suite_report(table, "aft report: transfer suite " + a->suite,
                                                    report::read_chart_js(a->chart_js));
      report::write_html(a->out, html);
      std::cout << report::suite_text(table, a->markdown) << "report: " << a->out << std::endl;
      return;
    }
    check(!a->runs.empty(), "aft report: name at least one run directory (or --suite ROOT)");
    report::write_report(a->runs, a->out, a->chart_js);
    std::cout << "report: " << a->out << std::endl;
  });
}

}  // namespace aft::cli
