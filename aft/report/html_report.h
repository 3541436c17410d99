// `aft report`: one self-contained HTML file for one or more run directories: configuration,
// training curves, each method's findings (ratios, PSO, angles, routing, sources) and, for
// runs on the same data, a comparison. Chart.js is inlined from Debian's libjs-chart.js.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aft::report {

// What a finished run directory holds (config.json, summary.json, metrics.jsonl).
struct RunFiles {
  std::string dir;
  std::string name;  // shown in the report: the directory's last component, made unique
  nlohmann::json config;
  nlohmann::json summary;
  std::vector<nlohmann::json> metrics;
  bool has_tensorboard = false;
};
// Throws aft::Error naming the directory and what is missing when it is not a finished run.
RunFiles read_run(const std::string& dir);

constexpr const char* kDefaultChartJs = "/usr/share/javascript/chart.js/chart.min.js";
// Reads the Chart.js UMD bundle; a clear error names the Debian package when it is missing.
std::string read_chart_js(const std::string& path = kDefaultChartJs);

std::string render_report(const std::vector<RunFiles>& runs, const std::string& chart_js);

// Reads every run first (so bad input writes nothing), then writes OUT atomically.
void write_report(const std::vector<std::string>& run_dirs, const std::string& out,
                  const std::string& chart_js_path = kDefaultChartJs);

// Writes a rendered page to OUT atomically; an existing OUT is replaced only when aft report
// wrote it.
void write_html(const std::string& out, const std::string& html);

// Escaping for what the report inserts: text and attribute values, and JSON inside <script>
// (no "<", ">" or "&" survives, so neither "</script>" nor "<!--" can end or alter the block).
std::string html_escape(const std::string& text);
std::string script_json(const nlohmann::json& value);

}  // namespace aft::report
