#include "aft/core/output_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "aft/core/error.h"
#include "aft/core/log.h"
#include "aft/core/manifest.h"

namespace aft {
namespace stdfs = std::filesystem;

namespace {

stdfs::path resolved(const std::string& path) {
  std::error_code ec;
  auto p = stdfs::weakly_canonical(stdfs::absolute(path), ec);
  return ec ? stdfs::absolute(path).lexically_normal() : p;
}

std::string host_name() {
  char buffer[256] = {0};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "?";
  return buffer;
}

std::string read_fd(int fd) {
  std::string text;
  char buffer[256];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof(buffer), at);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

struct Holder {
  long pid = 0;
  std::string host;
  std::string text() const {
    return pid > 0 ? "pid " + std::to_string(pid) + " on " + (host.empty() ? "an unknown host" : host)
                   : "pid unknown on an unknown host: its lock file is empty";
  }
};

Holder parse_holder(const std::string& text) {
  Holder h;
  std::istringstream in(text);
  if (!(in >> h.pid)) h.pid = 0;
  in >> h.host;
  return h;
}

// OUT without a trailing separator, so that OUT.tmp.X and OUT.aft-lock are its siblings.
std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
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
  if (!stdfs::exists(stdfs::symlink_status(path, ec))) return OutputState::absent;
  if (!stdfs::is_directory(path, ec)) {
    if (stray) *stray = "it is a file, not a folder";
    return OutputState::foreign;
  }
  bool any = false, marked = false;
  std::string first_name;
  for (const auto& entry : stdfs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == DirLock::kName || name == manifest::kName) continue;  // bookkeeping is no content
    if (!any) first_name = name;
    any = true;
    if (name == kind.marker) marked = true;
  }
  check(!ec, "cannot list ", path, ": ", ec.message());
  if (!any) return OutputState::empty;
  if (!marked) {
    if (stray) *stray = "it holds '" + first_name + "' and no " + kind.marker + ", so aft did not write it";
    return OutputState::foreign;
  }
  const std::string first = manifest::first_stray(path);
  if (!first.empty()) {
    if (stray) *stray = first[0] == '\'' ? "it holds " + first + ", which aft did not write" : first;
    return OutputState::foreign;
  }
  return OutputState::ours;
}

void check_not_an_input(const std::string& path, const std::vector<std::string>& inputs, const std::string& flag) {
  check(!path.empty(), flag, " is required");
  for (const auto& input : inputs) {
    std::error_code ec;
    if (input.empty() || !stdfs::exists(input, ec)) continue;  // not a path ("fashion-mnist")
    check(!path_within(input, path), flag, " ", path, ": holds this job's input ", input, "; choose another ", flag,
          " (nothing was deleted)");
    check(!path_within(path, input), flag, " ", path, ": lies inside this job's input ", input,
          " (aft never writes into its inputs); choose another ", flag);
  }
}

void check_overwritable(const std::string& path, const OutputKind& kind, const std::vector<std::string>& inputs,
                        const std::string& flag) {
  check(!path.empty(), flag, " is required");
  const auto p = resolved(path);
  const char* home = std::getenv("HOME");
  check(p != p.root_path() && !(home && p == resolved(home)), flag, " ", path, ": refusing to replace this folder");
  check_not_an_input(path, inputs, flag);
  std::string stray;
  check(output_state(path, kind, &stray) != OutputState::foreign, flag, " ", path, ": not an aft ", kind.what, " (",
        stray, "); --overwrite replaces only what aft wrote, so choose another ", flag, " (nothing was deleted)");
}

DirLock::DirLock(const std::string& what, const std::string& lock_file) : path_(lock_file) {
  const std::string me = std::to_string(::getpid()) + " " + host_name() + "\n";
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    check(fd >= 0, "cannot create the lock file ", path_, ": ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_fd(fd);
      ::close(fd);
      check(err == EWOULDBLOCK, "cannot lock ", path_, ": ", std::strerror(err));
      if (holder.empty() && attempt < 100) {  // the holder has the lock and is about to write its name
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      fail(what, ": another aft process (", parse_holder(holder).text(),
           ") is writing this folder; wait for it to finish");
    }
    // The holder removes the file when it lets go: a lock on a file no longer at this path is none.
    struct stat held {}, now {};
    if (::fstat(fd, &held) != 0 || ::stat(path_.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev) {
      ::close(fd);
      check(attempt < 100, "cannot take the lock ", path_, ": it keeps being replaced");
      continue;
    }
    const std::string previous = read_fd(fd);
    if (!previous.empty()) {
      const Holder h = parse_holder(previous);
      // An older aft held its lock by the file alone, without flock: a live process named here keeps it.
      const bool here = h.host == host_name();
      const bool alive = here && h.pid > 0 && h.pid != ::getpid() &&
                         (::kill(static_cast<pid_t>(h.pid), 0) == 0 || errno == EPERM);
      if (alive) {
        ::close(fd);
        fail(what, ": another aft process (", h.text(), ") is writing this folder; wait for it, or remove ", path_,
             " if that process is not aft");
      }
      log::warn(what + ": taking over the lock of process " + h.text() + ", which no longer runs");
    }
    const bool ok = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, me.data(), me.size(), 0) == static_cast<ssize_t>(me.size());
    if (!ok) {
      const int err = errno;
      ::unlink(path_.c_str());
      ::close(fd);
      fail("cannot write the lock file ", path_, ": ", std::strerror(err));
    }
    fd_ = fd;
    return;
  }
}

DirLock::~DirLock() {
  if (fd_ < 0) return;
  // Unlinked while still held, so that no one can take a lock on the file as it goes away.
  struct stat held {}, now {};
  if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
      held.st_dev == now.st_dev) {
    ::unlink(path_.c_str());
  }
  ::close(fd_);
}

PrivateBuild::PrivateBuild(std::string out, OutputKind kind, bool overwrite, const std::vector<std::string>& inputs,
                           const std::string& flag)
    : out_(without_trailing_slash(std::move(out))),
      flag_(flag),
      kind_(std::move(kind)),
      overwrite_(overwrite),
      inputs_(inputs) {
  auto check_out = [&] {
    check(!out_.empty(), flag_, " is required");
    check_not_an_input(out_, inputs_, flag_);
    const auto state = output_state(out_, kind_);
    if (state == OutputState::absent || state == OutputState::empty) return;
    check_overwritable(out_, kind_, inputs_, flag_);
    check(overwrite_, out_, " already exists (use --overwrite to replace it)");
  };
  check_out();
  const auto parent = stdfs::path(out_).parent_path();
  std::error_code ec;
  if (!parent.empty()) stdfs::create_directories(parent, ec);
  check(!ec, "cannot create ", parent.string(), ": ", ec.message());
  lock_ = std::make_unique<DirLock>(flag_ + " " + out_, out_ + ".aft-lock");
  check_out();  // again, now that no other aft process can be writing it
  std::string pattern = out_ + ".tmp.XXXXXX";
  check(::mkdtemp(pattern.data()) != nullptr, "cannot create a folder beside ", out_, ": ", std::strerror(errno));
  tmp_ = pattern;
}

PrivateBuild::~PrivateBuild() {
  if (!installed_ && !tmp_.empty()) {
    std::error_code ec;
    stdfs::remove_all(tmp_, ec);  // this process's own folder: nobody else writes into it
  }
}

void PrivateBuild::install() {
  check(!installed_, "internal: ", out_, " installed twice");
  manifest::write_listing(tmp_);
  auto move = [&](unsigned flags) {
    return ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, out_.c_str(), flags) == 0 ? 0 : errno;
  };
  int err = move(RENAME_NOREPLACE);
  const std::string left_alone = "; it is left as it is and nothing was written";
  if (err == EEXIST || err == ENOTEMPTY) {
    std::string stray;
    const auto state = output_state(out_, kind_, &stray);
    std::error_code ec;
    if (state == OutputState::empty && !stdfs::exists(out_ + "/" + DirLock::kName, ec)) {
      // An empty folder holds nothing to lose; rmdir refuses if anything arrives in it meanwhile.
      stdfs::remove(out_ + "/" + manifest::kName, ec);
      err = stdfs::remove(out_, ec) ? move(RENAME_NOREPLACE) : EEXIST;
      check(err == 0 || (err != EEXIST && err != ENOTEMPTY), flag_, " ", out_,
            ": a folder appeared there while aft was writing", left_alone);
    } else if (state == OutputState::ours && overwrite_) {
      err = move(RENAME_EXCHANGE);
      if (err == 0) {
        installed_ = true;
        // tmp_ now holds the folder replaced: only what its manifest lists is removed.
        const size_t left = manifest::remove_listed(tmp_);
        if (left > 0 || !stdfs::remove(tmp_, ec)) {
          log::warn(out_ + ": the replaced " + kind_.what + " held files aft did not write; they are kept in " + tmp_);
        }
        return;
      }
    } else if (state == OutputState::empty) {
      fail(flag_, " ", out_, ": another aft process started writing there meanwhile", left_alone);
    } else {
      fail(flag_, " ", out_, ": ",
           state == OutputState::ours ? "another aft " + kind_.what + " appeared there while this one was written"
                                      : "a folder appeared there while aft was writing (" + stray + ")",
           left_alone);
    }
  }
  if (err == EINVAL || err == ENOSYS) {
    // A filesystem without renameat2's flags: a plain rename, which never replaces a folder with content.
    std::error_code ec;
    check(!stdfs::exists(out_, ec), flag_, " ", out_, ": exists, and this filesystem cannot swap folders atomically",
          left_alone);
    err = ::rename(tmp_.c_str(), out_.c_str()) == 0 ? 0 : errno;
  }
  check(err == 0, "cannot rename ", tmp_, " to ", out_, ": ", std::strerror(err));
  installed_ = true;
}

}  // namespace aft
