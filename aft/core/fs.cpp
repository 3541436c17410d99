#include "aft/core/fs.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aft/core/error.h"

namespace aft::fs {
namespace stdfs = std::filesystem;

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
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    check(f != nullptr, "cannot write ", tmp);
    const size_t written = std::fwrite(contents.data(), 1, contents.size(), f);
    const bool ok = written == contents.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) {
      std::remove(tmp.c_str());
      fail("short write to ", tmp, " (disk full?)");
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
  std::ofstream out(path, std::ios::app);
  check(out.good(), "cannot append to ", path);
  out << line << '\n';
}

bool exists(const std::string& path) { return stdfs::exists(path); }
bool is_directory(const std::string& path) { return stdfs::is_directory(path); }

void create_directories(const std::string& path) {
  std::error_code ec;
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
  if (stdfs::is_directory(to)) stdfs::remove_all(to, ec);
  stdfs::rename(from, to, ec);
  check(!ec, "cannot rename ", from, " to ", to, ": ", ec.message());
}

}  // namespace aft::fs
