// Logging and progress. On a terminal, progress redraws one line; elsewhere (CI logs,
// pipes) it prints plain lines at a bounded rate so logs stay readable.
#pragma once
#include <chrono>
#include <string>

namespace aft::log {

void set_quiet(bool quiet);
bool quiet();
bool stderr_is_tty();
void info(const std::string& message);
void warn(const std::string& message);

// Reports step progress for one phase (an epoch, a search, a data pass).
class Progress {
 public:
  Progress(std::string label, int64_t total_steps);
  // Called after each step; `detail` is e.g. "loss 0.41 acc 0.87".
  void update(int64_t step, int64_t images, const std::string& detail);
  // Ends the line on a TTY and prints the final state.
  void finish(const std::string& detail);
  double images_per_second() const;
  double seconds() const;

 private:
  std::string label_;
  int64_t total_;
  int64_t images_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool tty_;
};

std::string format_seconds(double seconds);

}  // namespace aft::log
