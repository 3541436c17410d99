// File helpers shared by every layer: whole-file reads, atomic writes (temp file + rename,
// so a crash never leaves a half-written output), and JSON in/out with clear errors.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace aft::fs {

std::string read_file(const std::string& path);
// Writes to PATH.tmp.<pid> in the same directory, flushes, then renames over PATH.
void write_file_atomic(const std::string& path, const std::string& contents);
nlohmann::json read_json(const std::string& path);
void write_json_atomic(const std::string& path, const nlohmann::json& value);
void append_line(const std::string& path, const std::string& line);
bool exists(const std::string& path);
bool is_directory(const std::string& path);
void create_directories(const std::string& path);
void remove_all(const std::string& path);
// Renames atomically (same filesystem); replaces an existing directory by removing it first.
void replace_path(const std::string& from, const std::string& to);

}  // namespace aft::fs
