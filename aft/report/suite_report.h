// `aft report --suite ROOT`: the transfer suite (docs/benchmarks.md §3) over its finished runs,
// laid out as bench/suite.sh writes them: ROOT/TARGET/METHOD/SEED/summary.json (and, beside a
// run, SEED.seconds: the runner's wall time for it). Each method's test accuracy per target as
// mean ± std over seeds, its mean rank over the targets, and per target the winner and the
// methods that beat full fine-tuning beyond the seeds' spread; as text, Markdown or HTML.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace aft::report {

struct SuiteCell {
  double mean = 0;
  double std = 0;  // sample standard deviation over seeds; 0 for one seed
  int n = 0;
};

struct SuiteVerdict {
  std::string target;
  std::string winner;
  bool has_full = false;
  // Methods whose mean - std is above full's mean + std, best first.
  std::vector<std::string> beyond_full;
};

struct SuiteTable {
  std::vector<std::string> targets;  // sorted
  std::vector<std::string> methods;  // by mean rank, best first
  std::map<std::pair<std::string, std::string>, SuiteCell> cells;  // (method, target)
  std::map<std::string, double> mean_rank;  // 1 = best; ties share the average rank
  std::map<std::string, int> ranked_on;     // targets the method ran on
  std::map<std::string, double> trainable;  // median over its runs; -1 unknown
  std::map<std::string, double> seconds;    // mean wall seconds per run; -1 unknown
  std::vector<SuiteVerdict> verdicts;       // one per target
  int runs = 0;
};

// Reads every finished run under ROOT (unfinished ones, without summary.json, are skipped).
// Throws aft::Error when ROOT holds no finished run.
SuiteTable read_suite(const std::string& root);
// The table as aligned text, or as Markdown tables (for docs/benchmarks.md).
std::string suite_text(const SuiteTable& table, bool markdown);
// A self-contained HTML page: the tables and a chart of each method's accuracy per target.
std::string render_suite_report(const SuiteTable& table, const std::string& title, const std::string& chart_js);

}  // namespace aft::report
