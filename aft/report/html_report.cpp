#include "aft/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/manifest.h"
#include "aft/report/report_page.h"

namespace aft::report {
namespace {

using nlohmann::json;

const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em} h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:1em} figure{margin:0;flex:1 1 360px;min-width:320px;max-width:560px}
figure.wide{max-width:100%;flex-basis:100%} figcaption{font-size:.85em;color:#555;text-align:center}
.note,.units{color:#555;font-size:.9em} .status{color:#888;font-size:.8em} pre{font-size:.8em;overflow:auto;max-height:30em}
nav a{margin-right:1em} .error{color:#b00;font-weight:bold}
)";

// Installed before Chart.js runs, so an error anywhere on the page is visible to a browser check.
// console.error counts too: Chart.js reports some misconfigurations there instead of throwing.
const char* kErrorScript = R"((function(){
function report(m){document.documentElement.setAttribute('data-aft-error',String(m));
var s=document.getElementById('aft-status');if(s){s.className='error';s.textContent='JavaScript error: '+m;}}
window.addEventListener('error',function(e){report(e.message);});
var original=console.error;console.error=function(){report(Array.prototype.join.call(arguments,' '));original.apply(console,arguments);};
})();)";

const char* kRenderScript = R"((function(){
var specs=JSON.parse(document.getElementById('aft-charts').textContent);
Chart.defaults.animation=false;Chart.defaults.maintainAspectRatio=true;
var n=0;specs.forEach(function(c){new Chart(document.getElementById(c.id),c.config);n++;});
document.documentElement.setAttribute('data-aft-rendered',String(n));
var s=document.getElementById('aft-status');if(s&&!document.documentElement.hasAttribute('data-aft-error'))s.textContent='rendered '+n+' charts';
})();)";

std::string cell(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, json::error_handler_t::replace); }

// config.json flattened to dotted keys (train.lr, method_options.particles, ...).
void flatten(const json& v, const std::string& key, std::vector<std::vector<std::string>>& rows) {
  if (v.is_object() && !v.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it) flatten(it.value(), key.empty() ? it.key() : key + "." + it.key(), rows);
  } else {
    rows.push_back({key, cell(v)});
  }
}

json series(const std::vector<json>& metrics, const char* key) {
  json out = json::array();
  for (const auto& row : metrics) out.push_back(row.contains(key) && row.at(key).is_number() ? row.at(key) : json());
  return out;
}

bool any_number(const json& a) {
  return std::any_of(a.begin(), a.end(), [](const json& v) { return v.is_number(); });
}

json line(const std::string& label, json data, size_t colour, const std::string& axis = "y") {
  return {{"label", label}, {"data", std::move(data)}, {"borderColor", palette(colour)},
          {"backgroundColor", palette(colour)}, {"yAxisID", axis}, {"spanGaps", true}};
}

void curves(Page& page, const RunFiles& run, const std::string& prefix) {
  page.heading(3, "Training curves", prefix + "-curves");
  if (run.metrics.empty()) {
    page.paragraph("metrics.jsonl holds no epochs.", "note");
    return;
  }
  json epochs = json::array();
  for (const auto& row : run.metrics) epochs.push_back(row.value("epoch", static_cast<int64_t>(epochs.size()) + 1));
  json loss = json::array();
  for (auto [key, label, colour] : {std::tuple{"train_loss", "train loss", 0}, {"val_loss", "val loss", 1}}) {
    auto s = series(run.metrics, key);
    if (any_number(s)) loss.push_back(line(label, s, colour));
  }
  json acc = json::array();
  for (auto [key, label, colour] : {std::tuple{"train_accuracy", "train accuracy", 0}, {"val_accuracy", "val accuracy", 1}}) {
    auto s = series(run.metrics, key);
    if (any_number(s)) acc.push_back(line(label, s, colour));
  }
  // The test split is evaluated once, after training: one point at the last epoch.
  const json& test = run.summary.contains("test_accuracy") ? run.summary.at("test_accuracy") : json();
  if (test.is_number() && test.get<double>() >= 0) {
    json points(epochs.size(), json());
    points.back() = test;
    auto d = line("test accuracy (final)", points, 2);
    d["pointRadius"] = 6;
    d["pointStyle"] = "rectRot";
    d["showLine"] = false;
    acc.push_back(d);
  }
  page.raw("<div class=\"charts\">\n");
  page.chart(prefix + "-loss", "loss per epoch", {{"type", "line"}, {"data", {{"labels", epochs}, {"datasets", loss}}},
                                                   {"options", axes("epoch", "loss")}});
  page.chart(prefix + "-accuracy", "accuracy per epoch",
             {{"type", "line"}, {"data", {{"labels", epochs}, {"datasets", acc}}}, {"options", axes("epoch", "accuracy")}});
  json rate = json::array();
  auto lr = series(run.metrics, "lr"), ips = series(run.metrics, "images_per_second");
  if (any_number(lr)) rate.push_back(line("learning rate", lr, 3));
  if (any_number(ips)) rate.push_back(line("images/s", ips, 4, "y1"));
  json options = axes("epoch", "learning rate");
  options["scales"]["y1"] = {{"position", "right"}, {"title", {{"display", true}, {"text", "images/s"}}},
                             {"grid", {{"drawOnChartArea", false}}}};
  page.chart(prefix + "-rate", "learning rate and training throughput",
             {{"type", "line"}, {"data", {{"labels", epochs}, {"datasets", rate}}}, {"options", options}});
  page.raw("</div>\n");
}

double number_or(const json& object, const char* key, double fallback) {
  return object.contains(key) && object.at(key).is_number() ? object.at(key).get<double>() : fallback;
}

// Runs on the same data side by side: a table and test accuracy against trainable parameters.
void comparison(Page& page, const std::vector<RunFiles>& runs) {
  std::map<std::string, std::vector<size_t>> by_data;
  std::vector<std::string> order;
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string data = runs[i].config.value("data", "");
    if (!by_data.count(data)) order.push_back(data);
    by_data[data].push_back(i);
  }
  int group = 0;
  for (const auto& data : order) {
    auto members = by_data.at(data);
    if (members.size() < 2) continue;
    const std::string id = "compare" + std::to_string(group++);
    page.heading(2, "Comparison: " + std::to_string(members.size()) + " runs on " + data, id);
    std::stable_sort(members.begin(), members.end(), [&](size_t a, size_t b) {
      return number_or(runs[a].summary, "test_accuracy", -1) > number_or(runs[b].summary, "test_accuracy", -1);
    });
    std::vector<std::vector<std::string>> rows;
    json points = json::array(), val_curves = json::array();
    size_t colour = 0;
    for (size_t i : members) {
      const auto& s = runs[i].summary;
      rows.push_back({runs[i].name, s.value("method", "?"), s.value("model", "?"), format_number(s.value("test_accuracy", json())),
                      format_number(s.value("best_val_accuracy", json())), format_count(s.value("trainable_params", json())),
                      format_count(s.value("total_params", json())), format_number(s.value("seconds", json()), 1)});
      const double trainable = number_or(s, "trainable_params", -1), test = number_or(s, "test_accuracy", -1);
      if (trainable > 0 && test >= 0) {
        points.push_back({{"label", runs[i].name}, {"data", {{{"x", trainable}, {"y", test}}}}, {"pointRadius", 7},
                          {"borderColor", palette(colour)}, {"backgroundColor", palette(colour)}});
      }
      json val = json::array();
      for (const auto& row : runs[i].metrics) {
        if (row.contains("val_accuracy") && row.contains("epoch")) val.push_back({{"x", row.at("epoch")}, {"y", row.at("val_accuracy")}});
      }
      if (!val.empty()) {
        val_curves.push_back({{"label", runs[i].name}, {"data", val}, {"showLine", true},
                              {"borderColor", palette(colour)}, {"backgroundColor", palette(colour)}});
      }
      ++colour;
    }
    page.table({"run", "method", "model", "test acc", "best val acc", "trainable", "total params", "seconds"}, rows,
               "compare");
    page.raw("<div class=\"charts\">\n");
    json options = axes("trainable parameters (log scale)", "test accuracy", true);
    options["scales"]["x"]["type"] = "logarithmic";
    page.chart(id + "-params", "test accuracy vs trainable parameters",
               {{"type", "scatter"}, {"data", {{"datasets", points}}}, {"options", options}});
    page.chart(id + "-val", "validation accuracy per epoch",
               {{"type", "scatter"}, {"data", {{"datasets", val_curves}}}, {"options", axes("epoch", "val accuracy", true)}});
    page.raw("</div>\n");
  }
}

void run_section(Page& page, const RunFiles& run, const std::string& prefix) {
  const auto& s = run.summary;
  page.heading(2, "Run " + run.name + ": " + s.value("method", "?") + " on " + s.value("model", "?"), prefix);
  page.table({"directory", "test acc", "best val acc (epoch)", "trainable / total params", "seconds", "images/s"},
             {{run.dir, format_number(s.value("test_accuracy", json())),
               format_number(s.value("best_val_accuracy", json())) + " (" + cell(s.value("best_epoch", json())) + ")",
               format_count(s.value("trainable_params", json())) + " / " + format_count(s.value("total_params", json())),
               format_number(s.value("seconds", json()), 1), format_number(s.value("images_per_second", json()), 1)}});
  if (run.has_tensorboard) page.paragraph("TensorBoard: tensorboard --logdir " + run.dir, "note");
  page.heading(3, "Configuration", prefix + "-config");
  std::vector<std::vector<std::string>> rows;
  flatten(run.config, "", rows);
  page.raw("<details><summary>config.json (" + std::to_string(rows.size()) + " settings)</summary>\n");
  page.table({"setting", "value"}, rows, "config");
  page.raw("</details>\n");
  curves(page, run, prefix);
  add_method_sections(page, run, prefix);
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string script_json(const json& value) {
  // These characters only occur inside JSON strings, where the \u escapes mean the same.
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

void Page::heading(int level, const std::string& text, const std::string& id) {
  const std::string h = "h" + std::to_string(level);
  body_ += "<" + h + " id=\"" + html_escape(id) + "\">" + html_escape(text) + "</" + h + ">\n";
}

void Page::paragraph(const std::string& text, const std::string& css_class) {
  body_ += "<p" + (css_class.empty() ? "" : " class=\"" + html_escape(css_class) + "\"") + ">" + html_escape(text) + "</p>\n";
}

void Page::table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                 const std::string& css_class) {
  body_ += "<table" + (css_class.empty() ? "" : " class=\"" + html_escape(css_class) + "\"") + "><tr>";
  for (const auto& h : header) body_ += "<th>" + html_escape(h) + "</th>";
  body_ += "</tr>\n";
  for (const auto& row : rows) {
    body_ += "<tr>";
    for (const auto& c : row) {
      const bool numeric = !c.empty() && c.find_first_not_of("0123456789.,-/ ()e+") == std::string::npos;
      body_ += (numeric ? "<td class=\"num\">" : "<td>") + html_escape(c) + "</td>";
    }
    body_ += "</tr>\n";
  }
  body_ += "</table>\n";
}

void Page::chart(const std::string& id, const std::string& caption, json config) {
  body_ += "<figure><canvas id=\"" + html_escape(id) + "\"></canvas><figcaption>" + html_escape(caption) +
           "</figcaption></figure>\n";
  charts_.push_back({{"id", id}, {"config", std::move(config)}});
}

std::string palette(size_t i) {
  static const char* kColours[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  return kColours[i % (sizeof(kColours) / sizeof(kColours[0]))];
}

std::string format_number(const json& value, int digits) {
  if (!value.is_number() || value.get<double>() < 0 || !std::isfinite(value.get<double>())) return "-";
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << value.get<double>();
  return out.str();
}

std::string format_count(const json& value) {
  if (!value.is_number() || value.get<double>() < 0) return "-";
  std::string digits = std::to_string(static_cast<int64_t>(value.get<double>()));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

json axes(const std::string& x_title, const std::string& y_title, bool x_linear) {
  json x = {{"title", {{"display", true}, {"text", x_title}}}};
  if (x_linear) x["type"] = "linear";
  return {{"responsive", true},
          {"scales", {{"x", x}, {"y", {{"title", {{"display", true}, {"text", y_title}}}}}}}};
}

RunFiles read_run(const std::string& dir) {
  check(fs::is_directory(dir), dir, ": not a directory");
  check(fs::exists(dir + "/summary.json"), dir, ": not a finished run directory (no summary.json)");
  check(fs::exists(dir + "/config.json"), dir, ": not a run directory (no config.json)");
  RunFiles run;
  run.dir = dir;
  run.config = fs::read_json(dir + "/config.json");
  run.summary = fs::read_json(dir + "/summary.json");
  check(run.config.is_object() && run.summary.is_object(), dir, ": config.json and summary.json must be JSON objects");
  if (fs::exists(dir + "/metrics.jsonl")) {
    std::istringstream lines(fs::read_file(dir + "/metrics.jsonl"));
    std::string text;
    for (int n = 1; std::getline(lines, text); ++n) {
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        run.metrics.push_back(json::parse(text));
      } catch (const json::exception&) {
        fail(dir, "/metrics.jsonl line ", n, ": not valid JSON");
      }
    }
  }
  run.has_tensorboard = fs::is_directory(dir + "/tb");
  std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  run.name = name.empty() ? dir : name;
  return run;
}

std::string read_chart_js(const std::string& path) {
  check(fs::exists(path), "Chart.js not found at ", path,
        ": install Debian's libjs-chart.js (tools/setup.sh) or pass its chart.min.js with --chart-js");
  std::string js = fs::read_file(path);
  check(js.find("Chart") != std::string::npos, path, " does not look like Chart.js");
  // Inlined in a <script> element, which the first "</script" would end.
  for (size_t at = 0; (at = js.find("</script", at)) != std::string::npos;) js.replace(at, 2, "<\\/");
  return js;
}

std::string render_report(const std::vector<RunFiles>& input, const std::string& chart_js) {
  std::vector<RunFiles> runs = input;
  // Two runs with the same directory name (a/full, b/full) are told apart by their path.
  for (auto& r : runs) {
    const auto same = std::count_if(input.begin(), input.end(), [&](const RunFiles& o) { return o.name == r.name; });
    if (same > 1) r.name = r.dir;
  }
  Page page;
  const std::string title = runs.size() == 1 ? "aft report: " + runs[0].name : "aft report: " + std::to_string(runs.size()) + " runs";
  page.heading(1, title, "top");
  page.raw("<p id=\"aft-status\" class=\"status\">charts not rendered yet (JavaScript disabled?)</p>\n<nav>");
  for (size_t i = 0; i < runs.size(); ++i) {
    page.raw("<a href=\"#run" + std::to_string(i) + "\">" + html_escape(runs[i].name) + "</a>");
  }
  page.raw("</nav>\n");
  comparison(page, runs);
  for (size_t i = 0; i < runs.size(); ++i) run_section(page, runs[i], "run" + std::to_string(i));
  return html_page(title, page, chart_js);
}

std::string html_page(const std::string& title, const Page& page, const std::string& chart_js) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"generator\" content=\"aft report\">\n<title>" + html_escape(title) +
         "</title>\n<style>" + kStyle + "</style>\n<script>" + kErrorScript + "</script>\n<script>\n" + chart_js +
         "\n</script>\n</head>\n<body>\n" + page.body() + "<script type=\"application/json\" id=\"aft-charts\">" +
         script_json(page.charts()) + "</script>\n<script>" + kRenderScript + "</script>\n</body>\n</html>\n";
}

void write_report(const std::vector<std::string>& run_dirs, const std::string& out, const std::string& chart_js_path) {
  check(!run_dirs.empty(), "aft report: name at least one run directory");
  check(!out.empty(), "aft report: --out is required");
  std::vector<RunFiles> runs;
  for (const auto& dir : run_dirs) runs.push_back(read_run(dir));
  write_html(out, render_report(runs, read_chart_js(chart_js_path)));
}

void write_html(const std::string& out, const std::string& html) {
  check(!out.empty(), "aft report: --out is required");
  // An existing file is replaced only when an earlier aft report wrote it.
  if (fs::exists(out)) {
    const bool ours = !fs::is_directory(out) &&
                      fs::read_file(out).find("<meta name=\"generator\" content=\"aft report\">") != std::string::npos;
    check(ours, "aft report: --out ", out, " exists and was not written by aft report; choose another --out");
  }
  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent.string());
  manifest::note_beside(out);  // a report written into a run directory is aft's, for --overwrite
  fs::write_file_atomic(out, html);
}

}  // namespace aft::report
