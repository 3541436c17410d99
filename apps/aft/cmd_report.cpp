// aft report: one self-contained HTML page (configuration, curves, method findings, and a
// comparison of runs on the same data) for one or more finished run directories.
#include <iostream>

#include "aft/report/html_report.h"
#include "apps/aft/commands.h"

namespace aft::cli {

void add_report_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> runs;
    std::string out = "report.html";
    std::string chart_js = report::kDefaultChartJs;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("report", "write a self-contained HTML report of one or more runs");
  sub->add_option("runs", a->runs, "finished run directories (several on the same data are compared)")
      ->required()
      ->expected(1, -1);
  sub->add_option("--out", a->out, "HTML file to write (atomically)")->capture_default_str();
  sub->add_option("--chart-js", a->chart_js, "Chart.js UMD bundle to inline (Debian: libjs-chart.js)")
      ->capture_default_str();
  sub->callback([a]() {
    report::write_report(a->runs, a->out, a->chart_js);
    std::cout << "report: " << a->out << std::endl;
  });
}

}  // namespace aft::cli
