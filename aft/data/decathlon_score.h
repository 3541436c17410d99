// The Visual Decathlon score (Rebuffi et al. 2017; docs/spottune.md): per domain
// alpha_d * max(0, E_max,d - E_d)^2 with E_max,d = 2 x the baseline error and
// alpha_d = 1000 / E_max,d^2, so a domain is worth at most 1000 and the baseline earns 250.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aft::data {

struct DecathlonDomain {
  std::string key;                   // the Decathlon's folder name, e.g. "vgg-flowers"
  std::string title;                 // e.g. "VGG-Flowers"
  double baseline_accuracy;          // percent, from the Decathlon's baseline table
  std::vector<std::string> aliases;  // other accepted spellings (compared without case/punctuation)
};

// The ten domains in the Decathlon's order.
const std::vector<DecathlonDomain>& decathlon_domains();
// The domain named `name` (key, title or alias); throws listing the known names.
const DecathlonDomain& find_decathlon_domain(const std::string& name);
// Score of one domain for an error rate in percent.
double decathlon_domain_score(const DecathlonDomain& domain, double error_percent);

struct DecathlonScore {
  struct Row {
    std::string domain;  // canonical key
    double accuracy;     // percent
    double error;        // percent
    double max_error;    // E_max = 2 x baseline error, percent
    double score;
  };
  std::vector<Row> rows;              // in the Decathlon's order
  double total = 0;
  std::vector<std::string> missing;   // domains the input did not give (scored 0, not in rows)
  nlohmann::json to_json() const;
};

// Scores `input`, an object mapping domain names to results. Each value is one of:
//   0.603                        accuracy as a fraction in [0, 1] (summary.json's convention);
//   {"accuracy": 60.3}           accuracy in percent;
//   {"error": 39.7}              error rate in percent;
//   {"test_accuracy": 0.603}     a fraction, so a run's summary.json object can be pasted in;
//   "runs/aircraft"              a run directory or summary.json file: its test_accuracy
//                                (relative paths are taken from `base_dir`).
// `source` names the input in error messages.
DecathlonScore decathlon_score(const nlohmann::json& input, const std::string& source,
                               const std::string& base_dir = "");

}  // namespace aft::data
