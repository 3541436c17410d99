#include "aft/core/fs.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aft/core/error.h"
#include "aft/core/manifest.h"

namespace aft::fs {
namespace stdfs = std::filesystem;

namespace {

// AFT_TEST_FAIL_WRITE=NAME[@K] makes the atomic writes of a file called NAME fail as a full disk
// would (ENOSPC), from the K-th such write of the process on (default 1): the failure tests of
// tests/apps/aft/hostile_cli_test.cpp use it where no small filesystem can be mounted.
bool injected_write_failure(const std::string& path) {
  const char* spec = std::getenv("AFT_TEST_FAIL_WRITE");
  if (spec == nullptr || *spec == 0) return false;
  const std::string text = spec;
  const auto at = text.find('@');
  if (stdfs::path(path).filename() != text.substr(0, at)) return false;
  static std::atomic<long> writes{0};
  const long nth = ++writes;
  if (at != std::string::npos && nth < std::atol(text.c_str() + at + 1)) return false;
  errno = ENOSPC;
  return true;
}

}  // namespace

std::string read_file(const std::string& path) {
  // An ifstream opens a directory without complaint and reads nothing from it.
  check(!stdfs::is_directory(path), path, ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open ", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  check(!in.bad(), "error while reading ", path);
  return buffer.str();
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  manifest::note(path);  // listed before it exists: a kill never leaves a file of ours unlisted
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    check(f != nullptr, "cannot write ", tmp);
    const bool injected = injected_write_failure(path);
    const size_t written = injected ? 0 : std::fwrite(contents.data(), 1, contents.size(), f);
    bool ok = !injected && written == contents.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    int err = ok ? 0 : (errno != 0 ? errno : ENOSPC);
    if (std::fclose(f) != 0 && ok) {
      ok = false;
      err = errno != 0 ? errno : EIO;
    }
    if (!ok) {
      std::remove(tmp.c_str());
      fail("cannot write ", path, ": ", std::strerror(err), err == ENOSPC ? " (disk full)" : "");
    }
  }
  std::error_code ec;
  stdfs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail("cannot rename ", tmp, " to ", path, ": ", ec.message());
  }
}

nlohmann::json read_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
}

void write_json_atomic(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

void append_line(const std::string& path, const std::string& line) {
  manifest::note(path);
  std::ofstream out(path, std::ios::app);
  check(out.good(), "cannot append to ", path);
  out << line << '\n';
}

bool exists(const std::string& path) { return stdfs::exists(path); }
bool is_directory(const std::string& path) { return stdfs::is_directory(path); }

void create_directories(const std::string& path) {
  std::error_code ec;
  manifest::note(path, true);  // also when it exists: another rank may have made it first
  stdfs::create_directories(path, ec);
  check(!ec, "cannot create directory ", path, ": ", ec.message());
}

void remove_all(const std::string& path) {
  std::error_code ec;
  stdfs::remove_all(path, ec);
  check(!ec, "cannot remove ", path, ": ", ec.message());
}

void replace_path(const std::string& from, const std::string& to) {
  std::error_code ec;
  manifest::note_tree(from, to);
  if (stdfs::is_directory(to)) stdfs::remove_all(to, ec);
  stdfs::rename(from, to, ec);
  check(!ec, "cannot rename ", from, " to ", to, ": ", ec.message());
}

}  // namespace aft::fs
