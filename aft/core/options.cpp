#include "aft/core/options.h"

#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "aft/core/error.h"

namespace aft {
namespace {

class ToJson : public OptionVisitor {
 public:
  nlohmann::json out = nlohmann::json::object();
  void field(const char* n, const char*, int64_t& v) override { out[n] = v; }
  void field(const char* n, const char*, double& v) override { out[n] = v; }
  void field(const char* n, const char*, bool& v) override { out[n] = v; }
  void field(const char* n, const char*, std::string& v) override { out[n] = v; }
  void field(const char* n, const char*, std::vector<std::string>& v) override { out[n] = v; }
};

class FromJson : public OptionVisitor {
 public:
  FromJson(const nlohmann::json& j, std::string source) : j_(j), source_(std::move(source)) {}
  std::set<std::string> seen;
  void field(const char* n, const char*, int64_t& v) override { read(n, v); }
  void field(const char* n, const char*, double& v) override { read(n, v); }
  void field(const char* n, const char*, bool& v) override { read(n, v); }
  void field(const char* n, const char*, std::string& v) override { read(n, v); }
  void field(const char* n, const char*, std::vector<std::string>& v) override { read(n, v); }

 private:
  template <typename T>
  void read(const char* name, T& value) {
    seen.insert(name);
    auto it = j_.find(name);
    if (it == j_.end()) return;
    try {
      value = it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(source_, ": option '", name, "' has the wrong type (", it->dump(), ")");
    }
  }
  const nlohmann::json& j_;
  std::string source_;
};

class RangeCheck : public OptionVisitor {
 public:
  void field(const char*, const char*, int64_t&) override {}
  void field(const char*, const char*, double&) override {}
  void field(const char*, const char*, bool&) override {}
  void field(const char*, const char*, std::string&) override {}
  void field(const char*, const char*, std::vector<std::string>&) override {}
  void field(const char* n, const char*, int64_t& v, Range r) override {
    check(static_cast<double>(v) >= r.min && static_cast<double>(v) <= r.max, "--", n, " ", v, ": must be in ",
          range_text(r));
  }
  void field(const char* n, const char*, double& v, Range r) override {
    check(std::isfinite(v), "--", n, " ", v, ": must be a finite number");
    check(v >= r.min && v <= r.max, "--", n, " ", v, ": must be in ", range_text(r));
  }
};

}  // namespace

std::string range_text(Range range) {
  std::ostringstream out;
  auto number = [&](double v) {
    if (std::isinf(v)) {
      out << (v < 0 ? "-inf" : "inf");
    } else {
      out << v;
    }
  };
  out << (std::isinf(range.min) ? "(" : "[");
  number(range.min);
  out << ", ";
  number(range.max);
  out << (std::isinf(range.max) ? ")" : "]");
  return out.str();
}

void check_ranges(Options& options) {
  RangeCheck visitor;
  options.visit(visitor);
}

nlohmann::json options_to_json(Options& options) {
  ToJson visitor;
  options.visit(visitor);
  return visitor.out;
}

void options_from_json(Options& options, const nlohmann::json& j, bool strict, const std::string& source) {
  check(j.is_object(), source, ": expected a JSON object of options");
  FromJson visitor(j, source);
  options.visit(visitor);
  if (!strict) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    check(visitor.seen.count(it.key()) > 0, source, ": unknown option '", it.key(), "'");
  }
}

void check_choice(const std::string& flag, const std::string& value, std::initializer_list<const char*> choices) {
  std::string list;
  for (const char* c : choices) {
    if (value == c) return;
    list += list.empty() ? c : std::string("|") + c;
  }
  fail(flag, " ", value.empty() ? "(empty)" : value, ": expected one of ", list);
}

}  // namespace aft
