// The HTML report's building blocks: a page body assembled from escaped headings, tables and
// chart placeholders, with every chart's Chart.js configuration collected as JSON for the
// page's one rendering script. Used by html_report.cpp and report_sections.cpp.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aft/report/html_report.h"

namespace aft::report {

class Page {
 public:
  // <hN id=ID>TEXT</hN>; the id is how tests and links find a section.
  void heading(int level, const std::string& text, const std::string& id);
  void paragraph(const std::string& text, const std::string& css_class = "");
  void raw(const std::string& html) { body_ += html; }
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
             const std::string& css_class = "");
  // A <canvas id=ID> and its Chart.js configuration ({type, data, options}).
  void chart(const std::string& id, const std::string& caption, nlohmann::json config);
  const std::string& body() const { return body_; }
  const nlohmann::json& charts() const { return charts_; }

 private:
  std::string body_;
  nlohmann::json charts_ = nlohmann::json::array();
};

// Colours shared by every chart (colour-blind-safe palette, cycled).
std::string palette(size_t i);
// A number for display: fixed digits, "-" when missing or negative (aft's "not measured").
std::string format_number(const nlohmann::json& value, int digits = 4);
std::string format_count(const nlohmann::json& value);
// Chart.js options for a chart with titled axes.
nlohmann::json axes(const std::string& x_title, const std::string& y_title, bool x_linear = false);

// The whole HTML document around a page: style, error hook, inlined Chart.js, the charts' JSON
// and the script that renders them.
std::string html_page(const std::string& title, const Page& page, const std::string& chart_js);

// Method sections: each adds itself only when its data is in summary.json's method_report.
// prefix: the run's id prefix (e.g. "run2").
void add_method_sections(Page& page, const RunFiles& run, const std::string& prefix);

}  // namespace aft::report
