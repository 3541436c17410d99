#include "aft/core/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "aft/core/error.h"

namespace aft::manifest {
namespace stdfs = std::filesystem;

namespace {

constexpr const char* kLock = ".lock";  // DirLock::kName (output_dir.h sits above this file)

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
// Tracked roots (canonical) and the entries already listed in each.
std::map<std::string, std::set<std::string>>& registry() {
  static std::map<std::string, std::set<std::string>> r;
  return r;
}

stdfs::path canonical(const std::string& path) {
  std::error_code ec;
  auto p = stdfs::weakly_canonical(stdfs::absolute(path), ec);
  return ec ? stdfs::absolute(path).lexically_normal() : p;
}

// `path` relative to `root` when it lies strictly inside it.
std::optional<std::string> inside(const stdfs::path& path, const stdfs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r) {
    if (r->empty()) continue;
    if (p == path.end() || *p != *r) return std::nullopt;
    ++p;
  }
  stdfs::path rel;
  for (; p != path.end(); ++p) {
    if (!p->empty()) rel /= *p;
  }
  if (rel.empty()) return std::nullopt;
  return rel.generic_string();
}

bool is_bookkeeping(const std::string& rel) {
  return rel == kLock || rel == kName || rel.rfind(std::string(kName) + ".tmp", 0) == 0;
}

void append(const std::string& root, const std::string& entry) {
  const std::string file = root + "/" + kName;
  const std::string line = nlohmann::json(entry).dump() + "\n";
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  check(fd >= 0, "cannot record a write in ", file, ": ", std::strerror(errno));
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int err = errno;
  ::close(fd);
  check(ok, "cannot record a write in ", file, ": ", std::strerror(err), " (disk full?)");
}

// A temporary that an atomic write of a listed file leaves while it runs (NAME.tmp.PID).
bool temporary_of_listed(const std::string& rel, const std::set<std::string>& entries) {
  for (auto pos = rel.rfind(".tmp"); pos != std::string::npos && pos > 0; pos = rel.rfind(".tmp", pos - 1)) {
    if (entries.count(rel.substr(0, pos))) return true;
  }
  return false;
}

// Walks ROOT and sorts its content into what the manifest covers and what it does not.
struct Walk {
  std::vector<std::string> our_files, our_folders, strays;
};

Walk walk(const std::string& root, const std::set<std::string>& entries) {
  std::set<std::string> ancestors;
  for (const auto& e : entries) {
    for (auto p = stdfs::path(e).parent_path(); !p.empty(); p = p.parent_path()) ancestors.insert(p.generic_string());
  }
  Walk w;
  std::error_code ec;
  stdfs::recursive_directory_iterator it(root, ec), end;
  check(!ec, "cannot list ", root, ": ", ec.message());
  for (; it != end; it.increment(ec)) {
    check(!ec, "cannot list ", root, ": ", ec.message());
    const std::string rel = it->path().lexically_relative(root).generic_string();
    if (it.depth() == 0 && is_bookkeeping(rel)) continue;
    const bool folder = it->is_directory(ec) && !it->is_symlink(ec);
    if (folder) {
      if (entries.count(rel + "/") || ancestors.count(rel)) {
        w.our_folders.push_back(rel);
      } else {
        w.strays.push_back(rel + "/");
        it.disable_recursion_pending();  // nothing inside a folder aft did not make is ours
      }
    } else if (entries.count(rel) || temporary_of_listed(rel, entries)) {
      w.our_files.push_back(rel);
    } else {
      w.strays.push_back(rel);
    }
  }
  return w;
}

}  // namespace

void track(const std::string& root) {
  const std::string key = canonical(root).string();
  auto listed = read(key);
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[key] = listed ? *listed : std::set<std::string>{};
}

void untrack(const std::string& root) {
  const std::string key = canonical(root).string();
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(key);
}

void note(const std::string& path, bool folder) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (registry().empty()) return;
  const auto p = canonical(path);
  for (auto& [root, listed] : registry()) {
    auto rel = inside(p, root);
    if (!rel) continue;
    if (is_bookkeeping(*rel)) return;
    const std::string entry = folder ? *rel + "/" : *rel;
    if (listed.count(entry)) return;
    append(root, entry);
    listed.insert(entry);
    return;
  }
}

void note_beside(const std::string& path) {
  const auto p = canonical(path);
  const auto dir = p.parent_path();
  std::error_code ec;
  if (!stdfs::is_regular_file(dir / kName, ec)) return;
  const auto rel = inside(p, dir);
  const auto listed = read(dir.string());
  if (rel && !is_bookkeeping(*rel) && !(listed && listed->count(*rel))) append(dir.string(), *rel);
}

void note_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!stdfs::is_directory(from, ec)) {
    note(to);
    return;
  }
  note(to, true);
  for (auto it = stdfs::recursive_directory_iterator(from, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto rel = it->path().lexically_relative(from);
    note((stdfs::path(to) / rel).string(), it->is_directory(ec) && !it->is_symlink(ec));
  }
}

void write_listing(const std::string& root) {
  std::string text;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(root, ec); it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    check(!ec, "cannot list ", root, ": ", ec.message());
    const std::string rel = it->path().lexically_relative(root).generic_string();
    if (it.depth() == 0 && is_bookkeeping(rel)) continue;
    const bool folder = it->is_directory(ec) && !it->is_symlink(ec);
    text += nlohmann::json(folder ? rel + "/" : rel).dump() + "\n";
  }
  check(!ec, "cannot list ", root, ": ", ec.message());
  const std::string file = root + "/" + kName;
  std::FILE* f = std::fopen(file.c_str(), "wb");
  check(f != nullptr, "cannot write ", file, ": ", std::strerror(errno));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                  ::fsync(fileno(f)) == 0;
  std::fclose(f);
  check(ok, "cannot write ", file, " (disk full?)");
}

std::optional<std::set<std::string>> read(const std::string& root) {
  const std::string file = root + "/" + kName;
  std::error_code ec;
  if (!stdfs::is_regular_file(file, ec)) return std::nullopt;
  std::ifstream in(file);
  check(in.good(), "cannot read ", file);
  std::set<std::string> entries;
  std::string line;
  while (std::getline(in, line)) {
    // A line torn by a kill is skipped: its file was never created (entries precede files).
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_string()) entries.insert(j.get<std::string>());
  }
  return entries;
}

std::string first_stray(const std::string& root) {
  const auto entries = read(root);
  if (!entries) return std::string("it has no ") + kName + " listing what aft wrote there";
  const auto w = walk(root, *entries);
  return w.strays.empty() ? "" : "'" + w.strays.front() + "'";
}

size_t remove_listed(const std::string& root) {
  const auto entries = read(root);
  if (!entries) return 1;
  auto w = walk(root, *entries);
  std::error_code ec;
  for (const auto& f : w.our_files) {
    stdfs::remove(stdfs::path(root) / f, ec);
    check(!ec, "cannot remove ", root, "/", f, ": ", ec.message());
  }
  // Deepest first; a folder that still holds something (a stray) stays.
  std::sort(w.our_folders.begin(), w.our_folders.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& d : w.our_folders) stdfs::remove(stdfs::path(root) / d, ec);
  stdfs::remove(stdfs::path(root) / kName, ec);
  return w.strays.size();
}

}  // namespace aft::manifest
