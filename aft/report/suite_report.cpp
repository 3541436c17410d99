#include "aft/report/suite_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/report/report_page.h"

namespace aft::report {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : stdfs::directory_iterator(dir)) {
    if (entry.is_directory()) out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

std::string cell_text(const SuiteTable& t, const std::string& method, const std::string& target) {
  const auto it = t.cells.find({method, target});
  if (it == t.cells.end()) return "-";
  const auto& c = it->second;
  return fixed(c.mean, 3) + " ± " + fixed(c.std, 3) + (c.n >= 3 ? "" : " (n=" + std::to_string(c.n) + ")");
}

std::string count_text(double v) {
  if (v < 0) return "-";
  std::string digits = std::to_string(static_cast<long long>(std::llround(v)));
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<size_t>(at), ",");
  return digits;
}

// The method table's and the verdict table's rows, shared by the text, Markdown and HTML forms.
std::vector<std::string> method_header(const SuiteTable& t) {
  std::vector<std::string> h{"method"};
  h.insert(h.end(), t.targets.begin(), t.targets.end());
  h.insert(h.end(), {"mean rank", "trainable", "s/run"});
  return h;
}

std::vector<std::vector<std::string>> method_rows(const SuiteTable& t) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : t.methods) {
    std::vector<std::string> row{m};
    for (const auto& target : t.targets) row.push_back(cell_text(t, m, target));
    const int on = t.ranked_on.at(m);
    row.push_back(fixed(t.mean_rank.at(m), 2) + (on == static_cast<int>(t.targets.size()) ? "" : " (" + std::to_string(on) + ")"));
    row.push_back(count_text(t.trainable.at(m)));
    row.push_back(t.seconds.at(m) < 0 ? "-" : fixed(t.seconds.at(m), 0));
    rows.push_back(std::move(row));
  }
  return rows;
}

const std::vector<std::string> kVerdictHeader{"target", "winner", "winner acc", "full", "beyond full's spread"};

std::vector<std::vector<std::string>> verdict_rows(const SuiteTable& t) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : t.verdicts) {
    std::string beyond;
    for (const auto& m : v.beyond_full) beyond += (beyond.empty() ? "" : ", ") + m;
    if (!v.has_full) beyond = "(full did not run)";
    rows.push_back({v.target, v.winner, cell_text(t, v.winner, v.target), v.has_full ? cell_text(t, "full", v.target) : "-",
                    beyond.empty() ? "none" : beyond});
  }
  return rows;
}

void text_table(std::ostringstream& out, const std::vector<std::string>& head,
                const std::vector<std::vector<std::string>>& rows, bool markdown) {
  if (markdown) {
    out << "|";
    for (const auto& h : head) out << " " << h << " |";
    out << "\n|";
    for (size_t i = 0; i < head.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& r : rows) {
      out << "|";
      for (const auto& c : r) out << " " << c << " |";
      out << "\n";
    }
    return;
  }
  // Widths in characters, not bytes: "±" is two bytes of UTF-8.
  const auto width = [](const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<size_t> w(head.size(), 0);
  for (size_t i = 0; i < head.size(); ++i) w[i] = width(head[i]);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  }
  const auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) s += r[i] + std::string(i + 1 < r.size() ? w[i] - width(r[i]) + 2 : 0, ' ');
    out << s << "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
}

}  // namespace

SuiteTable read_suite(const std::string& root) {
  check(fs::is_directory(root), "aft report --suite: no directory ", root);
  SuiteTable t;
  std::map<std::string, std::vector<double>> params, seconds;
  std::map<std::pair<std::string, std::string>, std::vector<double>> acc;
  for (const auto& target : subdirs(root)) {
    for (const auto& method : subdirs(root + "/" + target)) {
      const auto mdir = root + "/" + target + "/" + method;
      for (const auto& seed : subdirs(mdir)) {
        const auto summary_path = mdir + "/" + seed + "/summary.json";
        if (!fs::exists(summary_path)) continue;
        const auto s = fs::read_json(summary_path);
        check(s.contains("test_accuracy") && s.at("test_accuracy").is_number(), summary_path,
              ": no test_accuracy (not a finished fine-tuning run)");
        acc[{method, target}].push_back(s.at("test_accuracy").get<double>());
        if (s.contains("trainable_params") && s.at("trainable_params").is_number()) {
          params[method].push_back(s.at("trainable_params").get<double>());
        }
        const auto timing = mdir + "/" + seed + ".seconds";
        if (fs::exists(timing)) {
          seconds[method].push_back(std::stod(fs::read_file(timing)));
        } else if (s.contains("seconds") && s.at("seconds").is_number()) {
          seconds[method].push_back(s.at("seconds").get<double>());
        }
        ++t.runs;
      }
    }
  }
  check(t.runs > 0, "aft report --suite: no finished run under ", root, " (expected ROOT/TARGET/METHOD/SEED/summary.json)");
  std::map<std::string, double> rank_sum;
  std::map<std::string, std::map<std::string, double>> means;  // target -> method -> mean
  for (const auto& [key, values] : acc) {
    SuiteCell c;
    c.n = static_cast<int>(values.size());
    c.mean = std::accumulate(values.begin(), values.end(), 0.0) / c.n;
    double ss = 0;
    for (double v : values) ss += (v - c.mean) * (v - c.mean);
    c.std = c.n > 1 ? std::sqrt(ss / (c.n - 1)) : 0.0;
    t.cells[key] = c;
    means[key.second][key.first] = c.mean;
  }
  for (const auto& [target, by_method] : means) {
    t.targets.push_back(target);
    std::vector<std::string> order;
    for (const auto& kv : by_method) order.push_back(kv.first);
    std::stable_sort(order.begin(), order.end(),
                     [&](const std::string& a, const std::string& b) { return by_method.at(a) > by_method.at(b); });
    for (size_t i = 0; i < order.size();) {
      size_t j = i;
      while (j + 1 < order.size() && by_method.at(order[j + 1]) == by_method.at(order[i])) ++j;
      for (size_t k = i; k <= j; ++k) {
        rank_sum[order[k]] += static_cast<double>(i + j) / 2 + 1;
        t.ranked_on[order[k]] += 1;
      }
      i = j + 1;
    }
    SuiteVerdict v;
    v.target = target;
    v.winner = order.front();
    v.has_full = by_method.count("full") > 0;
    if (v.has_full) {
      const auto& full = t.cells.at({"full", target});
      for (const auto& m : order) {
        const auto& c = t.cells.at({m, target});
        if (m != "full" && c.mean - c.std > full.mean + full.std) v.beyond_full.push_back(m);
      }
    }
    t.verdicts.push_back(std::move(v));
  }
  for (const auto& [method, sum] : rank_sum) {
    t.methods.push_back(method);
    t.mean_rank[method] = sum / t.ranked_on.at(method);
    t.trainable[method] = median(params[method]);
    const auto& s = seconds[method];
    t.seconds[method] = s.empty() ? -1 : std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
  }
  std::stable_sort(t.methods.begin(), t.methods.end(),
                   [&](const std::string& a, const std::string& b) { return t.mean_rank.at(a) < t.mean_rank.at(b); });
  return t;
}

std::string suite_text(const SuiteTable& t, bool markdown) {
  std::ostringstream out;
  text_table(out, method_header(t), method_rows(t), markdown);
  out << "\n";
  text_table(out, kVerdictHeader, verdict_rows(t), markdown);
  return out.str();
}

std::string render_suite_report(const SuiteTable& t, const std::string& title, const std::string& chart_js) {
  Page page;
  page.heading(1, title, "top");
  page.raw("<p id=\"aft-status\" class=\"status\">charts not rendered yet (JavaScript disabled?)</p>\n");
  page.heading(2, "Test accuracy per target (mean ± std over seeds)", "suite");
  page.paragraph(std::to_string(t.runs) + " runs. Methods in order of their mean rank over the targets (1 = best; "
                 "a rank in brackets counts fewer targets). trainable: median over the runs; s/run: mean wall seconds.",
                 "note");
  page.table(method_header(t), method_rows(t), "suite");
  page.heading(2, "Winners, and who beats full fine-tuning beyond the spread", "suite-verdicts");
  page.paragraph("Beyond the spread: the method's mean minus its std is above full's mean plus its std.", "note");
  page.table(kVerdictHeader, verdict_rows(t), "suite-verdicts");
  json datasets = json::array();
  for (size_t i = 0; i < t.methods.size(); ++i) {
    json data = json::array();
    for (const auto& target : t.targets) {
      const auto it = t.cells.find({t.methods[i], target});
      data.push_back(it == t.cells.end() ? json(nullptr) : json(it->second.mean));
    }
    datasets.push_back({{"label", t.methods[i]}, {"data", data}, {"backgroundColor", palette(i)}});
  }
  page.raw("<div class=\"charts\">\n");
  page.chart("suite-accuracy", "mean test accuracy per target and method",
             {{"type", "bar"}, {"data", {{"labels", t.targets}, {"datasets", datasets}}},
              {"options", axes("target", "test accuracy")}});
  json ranks = json::array();
  for (const auto& m : t.methods) ranks.push_back(t.mean_rank.at(m));
  page.chart("suite-rank", "mean rank over the targets (lower is better)",
             {{"type", "bar"},
              {"data", {{"labels", t.methods}, {"datasets", json::array({{{"label", "mean rank"}, {"data", ranks},
                                                                          {"backgroundColor", palette(0)}}})}}},
              {"options", axes("method", "mean rank")}});
  page.raw("</div>\n");
  return html_page(title, page, chart_js);
}

}  // namespace aft::report
