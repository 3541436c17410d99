#include "aft/core/log.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace aft::log {
namespace {
bool g_quiet = false;
}

void set_quiet(bool q) { g_quiet = q; }
bool quiet() { return g_quiet; }
bool stderr_is_tty() { return ::isatty(STDERR_FILENO) != 0; }

void info(const std::string& message) {
  if (!g_quiet) std::cerr << message << std::endl;
}
void warn(const std::string& message) { std::cerr << "warning: " << message << std::endl; }

std::string format_seconds(double s) {
  char buf[32];
  const long total = static_cast<long>(s + 0.5);
  if (total >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", total / 3600, (total / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", total / 60, total % 60);
  }
  return buf;
}

Progress::Progress(std::string label, int64_t total_steps)
    : label_(std::move(label)),
      total_(total_steps),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_),
      tty_(stderr_is_tty()) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::images_per_second() const {
  const double s = seconds();
  return s > 0 ? images_ / s : 0.0;
}

void Progress::update(int64_t step, int64_t images, const std::string& detail) {
  images_ = images;
  if (g_quiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  // Terminals get a live line; logs get a line every 10 s at most.
  if (since < (tty_ ? 0.2 : 10.0) && step != total_) return;
  last_print_ = now;
  const double elapsed = seconds();
  const double eta = step > 0 ? elapsed / step * (total_ - step) : 0.0;
  std::ostringstream line;
  line << label_ << " step " << step << "/" << total_ << " " << detail << " "
       << static_cast<int64_t>(images_per_second()) << " img/s eta " << format_seconds(eta);
  if (tty_) {
    std::cerr << "\r\033[K" << line.str() << std::flush;
  } else {
    std::cerr << line.str() << std::endl;
  }
}

void Progress::finish(const std::string& detail) {
  if (g_quiet) return;
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << label_ << " " << detail << " (" << static_cast<int64_t>(images_per_second())
            << " img/s, " << format_seconds(seconds()) << ")" << std::endl;
}

}  // namespace aft::log
