// Folders aft writes (run directories, generated datasets, soups) and may later replace. aft
// never deletes what it did not write: --overwrite replaces a folder only when aft's marker is
// in it and its manifest (aft/core/manifest.h) lists everything it holds, at every depth, and
// never a folder that holds the job's inputs or lies inside one. A lock keeps a second process
// from writing the same folder at the same time. docs/safety.md has the rules.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace aft {

struct OutputKind {
  std::string what;    // "run directory", "dataset folder": for messages
  std::string marker;  // a file aft writes into every such folder
};

// The folder as --out found it.
enum class OutputState { absent, empty, ours, foreign };

// absent / empty / ours (marker present, the manifest lists everything, recursively) / foreign;
// `stray` gets why a folder is foreign (the first entry aft did not write, or the missing marker).
OutputState output_state(const std::string& path, const OutputKind& kind, std::string* stray = nullptr);

// Throws one line unless `path` may be written by this job: neither `path` nor any of `inputs`
// (data, weights, sources, ingredients: those that exist) may lie inside the other, through
// symlinks, and `path` may not be "/" or the home folder.
void check_not_an_input(const std::string& path, const std::vector<std::string>& inputs,
                        const std::string& flag = "--out");

// Throws one clear line unless --overwrite may remove `path`: check_not_an_input, and the folder
// must be absent, empty or ours.
void check_overwritable(const std::string& path, const OutputKind& kind, const std::vector<std::string>& inputs,
                        const std::string& flag = "--out");

// True when `inner` is `outer` or lies inside it (after resolving both; missing paths resolve lexically).
bool path_within(const std::string& inner, const std::string& outer);

// An exclusive lock: flock(2) on a lock file that holds "pid host" (DIR/.lock for a folder
// written in place). A second process is refused with one line naming the holder's pid and
// host; the kernel drops the lock of a killed process, so a stale lock file (empty or not) is
// taken over atomically. A lock file naming a live process of this host that holds no flock (an
// older aft) is still respected.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) : DirLock(dir, dir + "/" + kName) {}
  // `what` names the locked thing in messages; `lock_file` is created (and removed on release).
  DirLock(const std::string& what, const std::string& lock_file);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  static constexpr const char* kName = ".lock";

 private:
  std::string path_;
  int fd_ = -1;
};

// A folder built privately and swapped in whole (a dataset, a soup): OUT is checked first (absent,
// empty, or ours with `overwrite`; never an input), locked (OUT.aft-lock beside it) for the whole
// build, and written as a fresh OUT.tmp.XXXXXX. install() lists everything in its manifest and
// renames it into place without ever replacing a folder that appeared meanwhile; a replaced
// folder of ours is swapped out and only what its manifest lists is removed. Destroyed without
// install() (a failure), the temporary folder is removed.
class PrivateBuild {
 public:
  PrivateBuild(std::string out, OutputKind kind, bool overwrite, const std::vector<std::string>& inputs = {},
               const std::string& flag = "--out");
  ~PrivateBuild();
  PrivateBuild(const PrivateBuild&) = delete;
  PrivateBuild& operator=(const PrivateBuild&) = delete;
  const std::string& dir() const { return tmp_; }
  void install();

 private:
  std::string out_, tmp_, flag_;
  OutputKind kind_;
  bool overwrite_;
  bool installed_ = false;
  std::vector<std::string> inputs_;
  std::unique_ptr<DirLock> lock_;
};

}  // namespace aft
