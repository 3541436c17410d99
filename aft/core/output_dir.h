// Folders aft writes (run directories, generated datasets) and may later replace. aft never
// deletes what it did not write: --overwrite replaces a folder only when aft's own marker
// file is in it and nothing else is, and never a folder that holds the job's inputs.
// A lock file keeps a second process from writing the same folder at the same time.
#pragma once
#include <set>
#include <string>
#include <vector>

namespace aft {

struct OutputKind {
  std::string what;                // "run directory", "dataset folder": for messages
  std::string marker;              // a file aft writes into every such folder
  std::set<std::string> entries;   // every name aft may write at the folder's top level
};

// The folder as --out found it.
enum class OutputState { absent, empty, ours, foreign };

// absent / empty / ours (marker present, every entry known) / foreign; `stray` gets the first
// entry aft did not write (or the missing marker) for a foreign folder.
OutputState output_state(const std::string& path, const OutputKind& kind, std::string* stray = nullptr);

// Throws one clear line unless --overwrite may remove `path`: it must be absent, empty or ours,
// and must neither be nor contain any of `inputs` (data, weights), nor be "/" or the home folder.
void check_overwritable(const std::string& path, const OutputKind& kind, const std::vector<std::string>& inputs,
                        const std::string& flag = "--out");

// True when `inner` is `outer` or lies inside it (after resolving both; missing paths resolve lexically).
bool path_within(const std::string& inner, const std::string& outer);

// An exclusive lock on a folder: DIR/.lock holds "pid host". A second process is refused with
// one line naming the holder; a lock whose process is gone (killed) is taken over with a warning.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  static constexpr const char* kName = ".lock";

 private:
  std::string path_;
};

}  // namespace aft
