// Method sections of the HTML report. Each reads only the keys it needs from method_report and
// is skipped when they are absent, so reports of older runs and of new methods still render.
#include <algorithm>
#include <cmath>
#include <string>

#include "aft/report/report_page.h"

namespace aft::report {
namespace {

using nlohmann::json;

const json& at_or_null(const json& object, const char* key) {
  static const json null;
  return object.is_object() && object.contains(key) ? object.at(key) : null;
}

bool numeric_array(const json& a) {
  return a.is_array() && !a.empty() && std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_number(); });
}

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

json bar_dataset(const std::string& label, json data, json colours) {
  return {{"label", label}, {"data", std::move(data)}, {"backgroundColor", std::move(colours)}, {"skipNull", true}};
}

// Contribution: the searched fraction of each unit's parameters that is tuned, and the PSO.
void contribution(Page& page, const json& mr, const std::string& prefix) {
  json labels = json::array(), ratios = json::array(), colours = json::array();
  std::vector<std::string> groups;
  if (at_or_null(mr, "layers").is_array()) {
    for (const auto& layer : mr.at("layers")) {
      if (!layer.is_object() || !at_or_null(layer, "ratio").is_number()) continue;
      labels.push_back(text_of(at_or_null(layer, "unit")));
      ratios.push_back(layer.at("ratio"));
      const std::string group = text_of(at_or_null(layer, "group"));
      auto it = std::find(groups.begin(), groups.end(), group);
      if (it == groups.end()) groups.push_back(group), it = groups.end() - 1;
      colours.push_back(palette(static_cast<size_t>(it - groups.begin())));
    }
  } else if (at_or_null(mr, "ratios").is_object()) {
    for (auto it = mr.at("ratios").begin(); it != mr.at("ratios").end(); ++it) {
      if (!it.value().is_number()) continue;
      labels.push_back(it.key());
      ratios.push_back(it.value());
      colours.push_back(palette(0));
    }
  }
  if (!labels.empty()) {
    page.heading(3, "Per-layer tuned ratio (parameter contribution)", prefix + "-ratios");
    std::string note = "Fraction of each unit's parameters that is fine-tuned; colour = ratio group.";
    if (at_or_null(mr, "trainable_fraction_backbone").is_number()) {
      note += " Backbone tuned: " + format_number(mr.at("trainable_fraction_backbone"), 3) + " of its parameters.";
    }
    page.paragraph(note, "note");
    json options = axes("unit", "tuned ratio");
    options["scales"]["y"]["min"] = 0;
    options["scales"]["y"]["max"] = 1;
    options["plugins"]["legend"] = {{"display", false}};
    page.chart(prefix + "-ratios-chart", "tuned ratio per unit",
               {{"type", "bar"}, {"data", {{"labels", labels}, {"datasets", {bar_dataset("ratio", ratios, colours)}}}},
                {"options", options}});
  }
  const json& search = at_or_null(mr, "search");
  if (!numeric_array(at_or_null(search, "gbest_per_iteration"))) return;
  page.heading(3, "PSO convergence", prefix + "-pso");
  page.paragraph("Best validation fitness after the initial swarm (iteration 0) and after each iteration; dots are "
                 "single proxy evaluations.", "note");
  json gbest = json::array(), evals = json::array();
  int64_t i = 0;
  for (const auto& g : search.at("gbest_per_iteration")) gbest.push_back({{"x", i++}, {"y", g}});
  if (at_or_null(search, "evaluations").is_array()) {
    for (const auto& e : search.at("evaluations")) {
      if (at_or_null(e, "fitness").is_number() && at_or_null(e, "iteration").is_number()) {
        evals.push_back({{"x", e.at("iteration")}, {"y", e.at("fitness")}});
      }
    }
  }
  json datasets = {{{"label", "gbest"}, {"data", gbest}, {"showLine", true}, {"borderColor", palette(0)},
                    {"backgroundColor", palette(0)}}};
  if (!evals.empty()) {
    datasets.push_back({{"label", "evaluation"}, {"data", evals}, {"borderColor", palette(1)},
                        {"backgroundColor", palette(1)}, {"pointRadius", 3}});
  }
  json options = axes("iteration", "fitness (val)", true);
  options["scales"]["x"]["ticks"] = {{"stepSize", 1}};
  page.chart(prefix + "-pso-chart", "PSO gbest per iteration",
             {{"type", "scatter"}, {"data", {{"datasets", datasets}}}, {"options", options}});
}

// Partial fine-tuning: the angle each unit moved in a short full fine-tune; chosen units marked.
void partial(Page& page, const json& mr, const std::string& prefix) {
  const json& units = at_or_null(at_or_null(mr, "angle_selection"), "units");
  const json& trainable = at_or_null(mr, "trainable_units");
  if (!units.is_array() && !trainable.is_array()) return;
  page.heading(3, "Per-unit angles (partial fine-tuning)", prefix + "-angles");
  if (units.is_array()) {
    json labels = json::array(), chosen = json::array(), other = json::array();
    for (const auto& u : units) {
      if (!at_or_null(u, "angle").is_number()) continue;
      labels.push_back(text_of(at_or_null(u, "unit")));
      const bool is_chosen = at_or_null(u, "chosen").is_boolean() && u.at("chosen").get<bool>();
      chosen.push_back(is_chosen ? u.at("angle") : json());
      other.push_back(is_chosen ? json() : u.at("angle"));
    }
    const json& sel = mr.at("angle_selection");
    page.paragraph("Angle between pretrained and briefly fine-tuned weights per unit; the chosen units (k = " +
                       text_of(at_or_null(sel, "k")) + ", " + text_of(at_or_null(sel, "pick")) +
                       " first within each group) are the ones fine-tuned.",
                   "note");
    json options = axes("unit", "angle");
    options["scales"]["x"]["stacked"] = true;
    page.chart(prefix + "-angles-chart", "angle per unit",
               {{"type", "bar"},
                {"data", {{"labels", labels},
                          {"datasets", {bar_dataset("chosen (tuned)", chosen, palette(1)),
                                        bar_dataset("not chosen (frozen)", other, "#b0b0b0")}}}},
                {"options", options}});
  }
  if (trainable.is_array()) {
    std::string list;
    for (const auto& u : trainable) list += (list.empty() ? "" : ", ") + text_of(u);
    page.paragraph("Tuned units: " + (list.empty() ? std::string("none (head only)") : list), "units");
  }
}

// SpotTune: how often each block took its fine-tuned path, and how many blocks an image used.
void spottune(Page& page, const json& mr, const json& class_names, const std::string& prefix) {
  const json& fraction = at_or_null(mr, "tuned_fraction");
  if (!numeric_array(fraction)) return;
  page.heading(3, "Per-block tuned-path usage (SpotTune)", prefix + "-routing");
  json labels = json::array();
  const json& blocks = at_or_null(mr, "blocks");
  for (size_t b = 0; b < fraction.size(); ++b) {
    labels.push_back(blocks.is_array() && b < blocks.size() ? text_of(blocks[b]) : "block " + std::to_string(b));
  }
  std::string note = "Fraction of test images routed through each block's fine-tuned copy.";
  if (at_or_null(mr, "mean_tuned_blocks").is_number()) {
    note += " Mean tuned blocks per image: " + format_number(mr.at("mean_tuned_blocks"), 2) + ".";
  }
  page.paragraph(note, "note");
  json options = axes("block", "fraction of images on the tuned path");
  options["scales"]["y"]["min"] = 0;
  options["scales"]["y"]["max"] = 1;
  page.chart(prefix + "-routing-chart", "tuned-path usage per block",
             {{"type", "bar"}, {"data", {{"labels", labels}, {"datasets", {bar_dataset("tuned path", fraction, palette(2))}}}},
              {"options", options}});
  const json& histogram = at_or_null(mr, "tuned_blocks_histogram");
  if (numeric_array(histogram)) {
    json counts = json::array();
    for (size_t k = 0; k < histogram.size(); ++k) counts.push_back(std::to_string(k));
    page.chart(prefix + "-routing-histogram", "images by number of tuned blocks",
               {{"type", "bar"},
                {"data", {{"labels", counts}, {"datasets", {bar_dataset("images", histogram, palette(3))}}}},
                {"options", axes("tuned blocks per image", "images")}});
  }
  // Per class: do some classes lean on the fine-tuned blocks more than others?
  const json& by_class = at_or_null(mr, "by_class");
  json class_labels = json::array(), class_means = json::array();
  if (by_class.is_array()) {
    for (const auto& row : by_class) {
      const json& c = at_or_null(row, "class");
      if (!c.is_number_integer() || !at_or_null(row, "mean_tuned_blocks").is_number()) continue;
      const auto index = c.get<int64_t>();
      const bool named = class_names.is_array() && index >= 0 && index < static_cast<int64_t>(class_names.size());
      class_labels.push_back(named ? text_of(class_names[static_cast<size_t>(index)]) : "class " + std::to_string(index));
      class_means.push_back(row.at("mean_tuned_blocks"));
    }
  }
  if (!class_labels.empty()) {
    json options = axes("class", "mean tuned blocks per image");
    options["scales"]["y"]["min"] = 0;
    options["plugins"]["legend"] = {{"display", false}};
    page.chart(prefix + "-routing-by-class", "mean tuned blocks per image, by class",
               {{"type", "bar"},
                {"data", {{"labels", class_labels}, {"datasets", {bar_dataset("tuned blocks", class_means, palette(4))}}}},
                {"options", options}});
  }
}

// The test split in detail: per-class accuracy, the confusion matrix, top-5 and calibration.
void test_metrics(Page& page, const json& metrics, const json& class_names, const std::string& prefix) {
  const json& per_class = at_or_null(metrics, "per_class_accuracy");
  const json& confusion = at_or_null(metrics, "confusion");
  if (!numeric_array(per_class) || !confusion.is_array() || confusion.size() != per_class.size()) return;
  page.heading(3, "Test split: per-class accuracy and confusion matrix", prefix + "-test-metrics");
  page.paragraph("Top-5 accuracy " + format_number(at_or_null(metrics, "top5_accuracy")) +
                     ", expected calibration error " + format_number(at_or_null(metrics, "ece")) +
                     " (15 confidence bins), " + format_count(at_or_null(metrics, "samples")) + " images.",
                 "note");
  std::vector<std::string> names;
  for (size_t c = 0; c < per_class.size(); ++c) {
    names.push_back(class_names.is_array() && c < class_names.size() ? text_of(class_names[c]) : "class " + std::to_string(c));
  }
  json options = axes("class", "test accuracy");
  options["scales"]["y"]["min"] = 0;
  options["scales"]["y"]["max"] = 1;
  options["plugins"]["legend"] = {{"display", false}};
  page.chart(prefix + "-per-class", "test accuracy per class",
             {{"type", "bar"}, {"data", {{"labels", names}, {"datasets", {bar_dataset("accuracy", per_class, palette(1))}}}},
              {"options", options}});
  // The confusion matrix as a table whose cells darken with their share of the true class's row.
  std::string html = "<table class=\"confusion\" id=\"" + prefix + "-confusion\"><tr><th>true \\ predicted</th>";
  for (const auto& n : names) html += "<th>" + html_escape(n) + "</th>";
  html += "</tr>\n";
  for (size_t r = 0; r < confusion.size(); ++r) {
    int64_t total = 0;
    for (const auto& v : confusion[r]) total += v.is_number_integer() ? v.get<int64_t>() : 0;
    html += "<tr><th>" + html_escape(names[r]) + "</th>";
    for (size_t c = 0; c < confusion[r].size(); ++c) {
      const int64_t v = confusion[r][c].is_number_integer() ? confusion[r][c].get<int64_t>() : 0;
      const double share = total > 0 ? static_cast<double>(v) / total : 0.0;
      const int alpha = static_cast<int>(std::lround(share * 100));
      html += "<td style=\"background:rgba(" + std::string(r == c ? "0,114,178" : "213,94,0") + "," +
              std::to_string(alpha / 100.0).substr(0, 4) + ")\">" + std::to_string(v) + "</td>";
    }
    html += "</tr>\n";
  }
  page.raw(html + "</table>\n");
}

// The accuracies an object carries, by the names aft uses.
std::vector<std::pair<std::string, json>> accuracies(const json& v) {
  std::vector<std::pair<std::string, json>> out;
  if (v.is_number()) return {{"accuracy", v}};
  for (const char* key : {"test_accuracy", "val_accuracy", "best_val_accuracy", "accuracy"}) {
    if (at_or_null(v, key).is_number()) out.emplace_back(key, v.at(key));
  }
  return out;
}

std::string source_name(const json& v, size_t index) {
  for (const char* key : {"name", "source", "label", "weights", "path"}) {
    if (!at_or_null(v, key).is_string()) continue;
    // A source given as a run directory or weights file is named by its last component.
    std::string name = v.at(key).get<std::string>();
    while (name.size() > 1 && name.back() == '/') name.pop_back();
    const size_t slash = name.find_last_of('/');
    return slash == std::string::npos || slash + 1 == name.size() ? name : name.substr(slash + 1);
  }
  return "source " + std::to_string(index + 1);
}

// Multi-source: each source's accuracy beside the ensemble's.
void multisource(Page& page, const json& mr, const std::string& prefix) {
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, json>>>> bars;
  for (const char* key : {"sources", "members", "per_source"}) {
    const json& s = at_or_null(mr, key);
    if (s.is_array()) {
      for (size_t i = 0; i < s.size(); ++i) bars.emplace_back(source_name(s[i], i), accuracies(s[i]));
    } else if (s.is_object()) {
      for (auto it = s.begin(); it != s.end(); ++it) bars.emplace_back(it.key(), accuracies(it.value()));
    }
    if (!bars.empty()) break;
  }
  auto ensemble = accuracies(at_or_null(mr, "ensemble"));
  for (const char* key : {"ensemble_test_accuracy", "ensemble_val_accuracy", "ensemble_accuracy"}) {
    if (at_or_null(mr, key).is_number()) ensemble.emplace_back(std::string(key).substr(9), mr.at(key));
  }
  if (bars.empty() && ensemble.empty()) return;
  if (!ensemble.empty()) bars.emplace_back("ensemble", ensemble);
  // One dataset per accuracy kind present anywhere (test, val, ...).
  std::vector<std::string> kinds;
  for (const auto& [name, accs] : bars) {
    for (const auto& [kind, value] : accs) {
      if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
    }
  }
  page.heading(3, "Per-source and ensemble accuracy (multi-source)", prefix + "-sources");
  json labels = json::array(), datasets = json::array();
  for (const auto& [name, accs] : bars) labels.push_back(name);
  for (size_t k = 0; k < kinds.size(); ++k) {
    json data = json::array(), colours = json::array();
    for (const auto& [name, accs] : bars) {
      json value;
      for (const auto& [kind, v] : accs) {
        if (kind == kinds[k]) value = v;
      }
      data.push_back(value);
      colours.push_back(name == "ensemble" ? "#222222" : palette(k));
    }
    datasets.push_back(bar_dataset(kinds[k], data, colours));
  }
  json options = axes("model", "accuracy");
  options["scales"]["y"]["min"] = 0;
  options["scales"]["y"]["max"] = 1;
  page.chart(prefix + "-sources-chart", "accuracy per source and of the ensemble",
             {{"type", "bar"}, {"data", {{"labels", labels}, {"datasets", datasets}}}, {"options", options}});
}

}  // namespace

// --method auto: each candidate's validation fitness per rung (a line per candidate, ending where
// it was cut), the winner, its margin and the budget spent.
void race(Page& page, const json& mr, const std::string& prefix) {
  const json& rungs = at_or_null(mr, "rungs");
  const json& candidates = at_or_null(mr, "candidates");
  if (!rungs.is_array() || !candidates.is_array() || rungs.empty()) return;
  page.heading(3, "The race (--method auto)", prefix + "-race");
  page.paragraph("Winner " + text_of(at_or_null(mr, "winner")) + ": validation " +
                     format_number(at_or_null(mr, "winner_fitness")) + " ± " +
                     format_number(at_or_null(mr, "winner_spread")) + ", margin over the runner-up " +
                     format_number(at_or_null(mr, "margin")) + "; " + text_of(at_or_null(mr, "folds")) +
                     " fold(s); budget spent " + format_number(at_or_null(mr, "spent"), 2) + " of " +
                     format_number(at_or_null(mr, "budget"), 2) + " full fine-tunes; stopped: " +
                     text_of(at_or_null(mr, "stopped")) + ".",
                 "note");
  json labels = json::array();
  for (const auto& r : rungs) labels.push_back(text_of(at_or_null(r, "epochs")) + " epochs");
  json datasets = json::array();
  std::vector<std::vector<std::string>> rows;
  size_t i = 0;
  for (const auto& c : candidates) {
    const auto label = text_of(at_or_null(c, "label"));
    json data = json::array();
    std::vector<std::string> row = {label + (label == text_of(at_or_null(mr, "winner")) ? " (winner)" : "")};
    for (const auto& r : rungs) {
      const json& fit = at_or_null(r, "fitness");
      const bool raced = fit.is_object() && fit.contains(label);
      data.push_back(raced ? fit.at(label) : json());
      row.push_back(raced ? format_number(fit.at(label)) : "cut");
    }
    row.push_back(format_count(at_or_null(c, "trainable_params")));
    rows.push_back(row);
    datasets.push_back({{"label", label}, {"data", data}, {"borderColor", palette(i)}, {"backgroundColor", palette(i)},
                        {"spanGaps", false}});
    ++i;
  }
  page.chart(prefix + "-race-chart", "validation accuracy per rung",
             {{"type", "line"}, {"data", {{"labels", labels}, {"datasets", datasets}}}, {"options", axes("rung", "validation accuracy")}});
  std::vector<std::string> header = {"candidate"};
  for (const auto& l : labels) header.push_back(l.get<std::string>());
  header.push_back("trainable");
  page.table(header, rows, "race");
  const json& left_out = at_or_null(mr, "left_out");
  if (left_out.is_array() && !left_out.empty()) {
    std::string text;
    for (const auto& c : left_out) {
      text += (text.empty() ? "" : "; ") + text_of(at_or_null(c, "label")) + " (search " +
              format_number(at_or_null(c, "search_cost"), 2) + " full fine-tunes, share " +
              format_number(at_or_null(c, "share"), 2) + ")";
    }
    page.paragraph("Left out: the budget could not afford their searches: " + text + ".", "note");
  }
}

void add_method_sections(Page& page, const RunFiles& run, const std::string& prefix) {
  const json& mr = at_or_null(run.summary, "method_report");
  contribution(page, mr, prefix);
  partial(page, mr, prefix);
  spottune(page, mr, at_or_null(run.config, "classes"), prefix);
  multisource(page, mr, prefix);
  race(page, mr, prefix);
  test_metrics(page, at_or_null(run.summary, "test_metrics"), at_or_null(run.config, "classes"), prefix);
  if (mr.is_object() && !mr.empty()) {
    page.raw("<details class=\"raw\"><summary>method_report (all of summary.json's findings)</summary><pre>" +
             html_escape(mr.dump(2, ' ', false, json::error_handler_t::replace)) + "</pre></details>\n");
  }
}

}  // namespace aft::report
