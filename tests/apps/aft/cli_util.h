// Running the aft binary from tests: its exit code and everything it printed.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

namespace aft_test {

struct Result {
  int code;
  std::string output;
};

inline Result run(const std::string& args) {
  const std::string cmd = std::string(AFT_BINARY) + " " + args + " 2>&1";
  Result r{0, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe)) r.output += buf.data();
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A refused command: non-zero exit and exactly one line, "aft: error: ...", containing `needle`.
inline void expect_one_line_error(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("aft: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << "one line expected:\n" << r.output;
}

}  // namespace aft_test
