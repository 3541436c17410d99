// Binds an aft::Options struct to CLI11 flags: each field becomes --name with its help text
// and default, from the same visit() that writes config.json.
#pragma once
#include <CLI/CLI.hpp>

#include <set>
#include <string>
#include <vector>

#include "aft/core/options.h"

namespace aft::cli {

class FlagBinder : public OptionVisitor {
 public:
  FlagBinder(CLI::App& app, std::string group) : app_(app), group_(std::move(group)) {}
  void field(const char* name, const char* help, int64_t& v) override { add(app_.add_option(flag(name), v, help)); }
  void field(const char* name, const char* help, double& v) override { add(app_.add_option(flag(name), v, help)); }
  void field(const char* name, const char* help, std::string& v) override { add(app_.add_option(flag(name), v, help)); }
  void field(const char* name, const char* help, std::vector<std::string>& v) override {
    add(app_.add_option(flag(name), v, help)->take_all()->allow_extra_args(false));
  }
  void field(const char* name, const char* help, int64_t& v, Range r) override {
    add(app_.add_option(flag(name), v, std::string(help) + " " + range_text(r)));
  }
  void field(const char* name, const char* help, double& v, Range r) override {
    add(app_.add_option(flag(name), v, std::string(help) + " " + range_text(r)));
  }
  void field(const char* name, const char* help, bool& v) override {
    auto* opt = app_.add_flag(flag(name), v, help);
    opt->group(group_);
    options_.emplace_back(name, opt);
  }
  // Names of the flags the user actually gave.
  std::set<std::string> given() const {
    std::set<std::string> out;
    for (const auto& [name, opt] : options_) {
      if (opt->count() > 0) out.insert(name);
    }
    return out;
  }

 private:
  static std::string flag(const char* name) { return std::string("--") + name; }
  void add(CLI::Option* opt) {
    opt->capture_default_str()->group(group_);
    options_.emplace_back(opt->get_name().substr(2), opt);
  }
  CLI::App& app_;
  std::string group_;
  std::vector<std::pair<std::string, CLI::Option*>> options_;
};

}  // namespace aft::cli
