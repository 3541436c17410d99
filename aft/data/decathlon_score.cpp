#include "aft/data/decathlon_score.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "aft/core/error.h"
#include "aft/core/fs.h"

namespace aft::data {
namespace {

// Lower case without punctuation, so "VGG-Flowers", "vgg_flowers" and "vggflowers" agree.
std::string normalise(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  }
  return out;
}

double accuracy_of_run(const std::string& path_in, const std::string& base_dir, const std::string& where) {
  std::string path = path_in;
  if (!path.empty() && path[0] != '/' && !base_dir.empty()) path = base_dir + "/" + path;
  if (fs::is_directory(path)) path += "/summary.json";
  check(fs::exists(path), where, ": ", path, " does not exist (expected a run directory or its summary.json)");
  const auto summary = fs::read_json(path);
  check(summary.contains("test_accuracy") && summary.at("test_accuracy").is_number(), where, ": ", path,
        " has no numeric test_accuracy");
  return summary.at("test_accuracy").get<double>();
}

double in_range(double value, double hi, const std::string& where, const char* what) {
  check(std::isfinite(value) && value >= 0 && value <= hi, where, ": ", what, " ", value, " is outside [0, ", hi, "]");
  return value;
}

// Accuracy in percent from one input value (see decathlon_score.h for the accepted forms).
double accuracy_percent(const nlohmann::json& v, const std::string& where, const std::string& base_dir) {
  if (v.is_number()) return 100.0 * in_range(v.get<double>(), 1.0, where, "accuracy fraction");
  if (v.is_string()) return 100.0 * in_range(accuracy_of_run(v.get<std::string>(), base_dir, where), 1.0, where, "test_accuracy");
  check(v.is_object(), where, ": expected a number (accuracy fraction), an object with accuracy or error (percent), "
        "or a run path; got ", v.dump());
  const bool has_acc = v.contains("accuracy"), has_err = v.contains("error"), has_test = v.contains("test_accuracy");
  check(int(has_acc) + int(has_err) + int(has_test) == 1, where,
        ": give exactly one of \"accuracy\" (percent), \"error\" (percent) or \"test_accuracy\" (fraction)");
  const char* key = has_acc ? "accuracy" : has_err ? "error" : "test_accuracy";
  check(v.at(key).is_number(), where, ": \"", key, "\" must be a number, got ", v.at(key).dump());
  const double x = v.at(key).get<double>();
  if (has_acc) return in_range(x, 100.0, where, "accuracy (percent)");
  if (has_err) return 100.0 - in_range(x, 100.0, where, "error (percent)");
  return 100.0 * in_range(x, 1.0, where, "test_accuracy (fraction)");
}

}  // namespace

const std::vector<DecathlonDomain>& decathlon_domains() {
  // Baseline accuracies (%) of the Decathlon's reference (docs/spottune.md).
  static const std::vector<DecathlonDomain> domains = {
      {"imagenet12", "ImageNet", 59.87, {"imagenet"}},
      {"aircraft", "Aircraft", 60.34, {"fgvc-aircraft"}},
      {"cifar100", "CIFAR-100", 82.12, {}},
      {"daimlerpedcls", "Daimler pedestrians", 92.82, {"daimler", "daimler-pedestrians"}},
      {"dtd", "DTD", 55.53, {"textures"}},
      {"gtsrb", "GTSRB", 97.53, {}},
      {"vgg-flowers", "VGG-Flowers", 81.41, {"flowers", "flowers102"}},
      {"omniglot", "Omniglot", 87.69, {}},
      {"svhn", "SVHN", 96.55, {}},
      {"ucf101", "UCF101", 51.20, {"ucf"}},
  };
  return domains;
}

const DecathlonDomain& find_decathlon_domain(const std::string& name) {
  const std::string wanted = normalise(name);
  std::string known;
  for (const auto& d : decathlon_domains()) {
    if (normalise(d.key) == wanted || normalise(d.title) == wanted) return d;
    for (const auto& alias : d.aliases) {
      if (normalise(alias) == wanted) return d;
    }
    known += (known.empty() ? "" : ", ") + d.key;
  }
  fail("unknown Decathlon domain '", name, "'; known domains: ", known);
}

double decathlon_domain_score(const DecathlonDomain& domain, double error_percent) {
  const double max_error = 2.0 * (100.0 - domain.baseline_accuracy);
  const double alpha = 1000.0 / (max_error * max_error);
  const double margin = std::max(0.0, max_error - error_percent);
  return alpha * margin * margin;
}

DecathlonScore decathlon_score(const nlohmann::json& input, const std::string& source, const std::string& base_dir) {
  check(input.is_object() && !input.empty(), source,
        ": expected a JSON object of per-domain results, e.g. {\"aircraft\": {\"accuracy\": 60.3}}");
  std::map<std::string, double> accuracy;  // canonical key -> percent
  for (auto it = input.begin(); it != input.end(); ++it) {
    const auto& domain = find_decathlon_domain(it.key());
    const std::string where = source + ": " + it.key();
    check(!accuracy.count(domain.key), where, ": domain ", domain.key, " given twice");
    accuracy[domain.key] = accuracy_percent(it.value(), where, base_dir);
  }
  DecathlonScore out;
  for (const auto& d : decathlon_domains()) {
    if (!accuracy.count(d.key)) {
      out.missing.push_back(d.key);
      continue;
    }
    const double acc = accuracy.at(d.key), err = 100.0 - acc;
    const double score = decathlon_domain_score(d, err);
    out.rows.push_back({d.key, acc, err, 2.0 * (100.0 - d.baseline_accuracy), score});
    out.total += score;
  }
  return out;
}

nlohmann::json DecathlonScore::to_json() const {
  nlohmann::json domains = nlohmann::json::object();
  for (const auto& r : rows) {
    domains[r.domain] = {{"accuracy", r.accuracy}, {"error", r.error}, {"max_error", r.max_error}, {"score", r.score}};
  }
  return {{"domains", domains}, {"total", total}, {"missing", missing}, {"max_total", 1000.0 * rows.size()}};
}

}  // namespace aft::data
