// The manifest of a folder aft writes (a run directory, a dataset, a soup): ROOT/.aft-manifest
// lists every file and folder aft created there, one JSON string (a path relative to ROOT) a
// line. --overwrite removes only what it lists, after checking the whole tree, so a file a user
// put anywhere inside (tb/, checkpoint/, a class folder) is never deleted. docs/safety.md has
// the rules.
//
// Two ways a folder gets its manifest:
// - written in place (a run directory): track(ROOT) while the job runs; every write through
//   aft::fs under ROOT is recorded *before* the file is created, so a kill never leaves a file
//   of ours unlisted. A file aft adds later to a finished folder (`aft report --out
//   RUN/report.html`) is recorded with note_beside().
// - built privately and renamed into place (datasets, soups): write_listing(TMP) before the swap.
#pragma once
#include <optional>
#include <set>
#include <string>

namespace aft::manifest {

inline constexpr const char* kName = ".aft-manifest";

// Starts recording the writes under `root` (an existing folder); entries already listed are kept.
void track(const std::string& root);
void untrack(const std::string& root);

// Called by aft::fs before it creates `path` (a file, or a folder when `folder`): appends it to
// the manifest of the tracked root it lies in (nothing when it lies in none).
void note(const std::string& path, bool folder = false);
// Before creating the file `path` in a folder that has a manifest but is not tracked: lists it.
void note_beside(const std::string& path);
// Called before renaming the tree `from` to `to` inside a tracked root: lists what `to` will hold.
void note_tree(const std::string& from, const std::string& to);

// Writes ROOT/.aft-manifest listing everything now under ROOT (a folder this process built alone).
void write_listing(const std::string& root);

// The entries of ROOT's manifest (folders end with '/'); nullopt when it has none.
std::optional<std::set<std::string>> read(const std::string& root);

// The first thing under ROOT (recursively, symlinks not followed) that the manifest does not
// list, as "'tb/note.txt'"; "" when everything is listed. Without a manifest, the reason.
// The lock file and the manifest itself are not content.
std::string first_stray(const std::string& root);

// Removes every file and folder the manifest lists (and temporaries of listed files), then the
// manifest; leaves everything else where it is. Returns how many entries it left (0: ROOT is
// empty of content, apart from a lock).
size_t remove_listed(const std::string& root);

}  // namespace aft::manifest
