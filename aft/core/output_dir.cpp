#include "aft/core/output_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/log.h"

namespace aft {
namespace stdfs = std::filesystem;

namespace {

stdfs::path resolved(const std::string& path) {
  std::error_code ec;
  auto p = stdfs::weakly_canonical(stdfs::absolute(path), ec);
  return ec ? stdfs::absolute(path).lexically_normal() : p;
}

// Atomic writes leave NAME.tmp.PID beside NAME while they run; a killed one may stay behind.
bool is_temporary_of(const std::string& name, const std::set<std::string>& entries) {
  const auto pos = name.find(".tmp");
  return pos != std::string::npos && entries.count(name.substr(0, pos)) > 0;
}

std::string host_name() {
  char buffer[256] = {0};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "?";
  return buffer;
}

}  // namespace

bool path_within(const std::string& inner, const std::string& outer) {
  const auto in = resolved(inner), out = resolved(outer);
  auto i = in.begin();
  for (auto o = out.begin(); o != out.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == in.end() || *i != *o) return false;
  }
  return true;
}

OutputState output_state(const std::string& path, const OutputKind& kind, std::string* stray) {
  std::error_code ec;
  if (!stdfs::exists(path, ec)) return OutputState::absent;
  if (!stdfs::is_directory(path, ec)) {
    if (stray) *stray = "it is a file, not a folder";
    return OutputState::foreign;
  }
  bool any = false, marked = false;
  for (const auto& entry : stdfs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == DirLock::kName) continue;  // a lock alone is no content
    any = true;
    if (name == kind.marker) marked = true;
    if (!kind.entries.count(name) && !is_temporary_of(name, kind.entries)) {
      if (stray) *stray = "it holds '" + name + "', which aft did not write";
      return OutputState::foreign;
    }
  }
  check(!ec, "cannot list ", path, ": ", ec.message());
  if (!any) return OutputState::empty;
  if (!marked) {
    if (stray) *stray = "it has no " + kind.marker + ", so aft did not write it";
    return OutputState::foreign;
  }
  return OutputState::ours;
}

void check_overwritable(const std::string& path, const OutputKind& kind, const std::vector<std::string>& inputs,
                        const std::string& flag) {
  check(!path.empty(), flag, " is required");
  const auto p = resolved(path);
  const char* home = std::getenv("HOME");
  check(p != p.root_path() && !(home && p == resolved(home)), flag, " ", path, ": refusing to replace this folder");
  for (const auto& input : inputs) {
    if (input.empty()) continue;
    check(!path_within(input, path), flag, " ", path, ": holds this job's input ", input,
          "; choose another ", flag, " (nothing was deleted)");
  }
  std::string stray;
  check(output_state(path, kind, &stray) != OutputState::foreign, flag, " ", path, ": not an aft ", kind.what, " (",
        stray, "); --overwrite replaces only what aft wrote, so choose another ", flag, " (nothing was deleted)");
}

DirLock::DirLock(const std::string& dir) : path_(dir + "/" + kName) {
  const std::string me = std::to_string(::getpid()) + " " + host_name();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const std::string line = me + "\n";
      const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::close(fd);
      check(ok, "cannot write the lock file ", path_);
      return;
    }
    check(errno == EEXIST, "cannot create the lock file ", path_, ": ", std::strerror(errno));
    std::ifstream in(path_);
    long pid = 0;
    std::string host;
    in >> pid >> host;
    const bool here = host == host_name();
    const bool gone = here && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
    if (!gone || attempt > 0) {
      fail(dir, ": another aft process (pid ", pid, here ? "" : " on " + host,
           ") is writing this folder; wait for it, or remove ", path_, " if that process is gone");
    }
    log::warn(dir + ": taking over the lock of process " + std::to_string(pid) + ", which no longer runs");
    std::remove(path_.c_str());
  }
}

DirLock::~DirLock() { std::remove(path_.c_str()); }

}  // namespace aft
