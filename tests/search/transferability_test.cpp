// LogME, LEEP, NCE and H-score against a direct numpy computation (tools/transferability_reference.py)
// on small matrices, and the orderings they must give on constructed cases.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "aft/core/error.h"
#include "aft/models/safetensors.h"
#include "aft/search/transferability.h"
#include "tests/data/data_test_util.h"

namespace {

using namespace aft::search;

struct Case {
  torch::Tensor features, labels, probs;
  int64_t classes;
};

// Features that carry the label plus noise, and a source head that half agrees with the labels.
Case make_case(int64_t n, int64_t d, int64_t classes, int64_t source_classes, uint64_t seed) {
  torch::manual_seed(seed);
  Case c;
  c.classes = classes;
  c.labels = torch::arange(n) % classes;
  c.features = torch::randn({n, d}, torch::kFloat64);
  c.features.index_put_({torch::indexing::Slice(), 0}, c.labels.to(torch::kFloat64) * 1.5);
  auto logits = torch::randn({n, source_classes}, torch::kFloat64);
  logits.index_put_({torch::arange(n), c.labels % source_classes}, 2.0);
  c.probs = torch::softmax(logits, 1);
  return c;
}

void expect_matches_numpy(const Case& c, const std::string& name, bool with_h_score = true) {
  if (!aft::data::testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 lacks torch";
  const auto dir = aft::data::testing::temp_dir("transferability_" + name);
  aft::safetensors::write(dir + "/in.safetensors", {{"features", c.features},
                                                    {"labels", c.labels},
                                                    {"probs", c.probs},
                                                    {"classes", torch::tensor({c.classes})}});
  const std::string cmd = "/usr/bin/python3 " + std::string(AFT_SOURCE_DIR) + "/tools/transferability_reference.py " +
                          dir + "/in.safetensors " + dir + "/out.safetensors";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = aft::safetensors::read(dir + "/out.safetensors").tensors;
  auto near = [&](const char* key, double got) {
    const double want = ref.at(key).item<double>();
    EXPECT_NEAR(got, want, 1e-6 * std::max(1.0, std::abs(want))) << key;
  };
  near("logme", logme(c.features, c.labels, c.classes));
  if (with_h_score) near("hscore", h_score(c.features, c.labels, c.classes));
  near("leep", leep(c.probs, c.labels, c.classes));
  near("nce", nce(c.probs, c.labels, c.classes));
}

TEST(Transferability, MatchesNumpyWithMoreImagesThanFeatures) { expect_matches_numpy(make_case(60, 8, 3, 5, 1), "tall"); }

TEST(Transferability, MatchesNumpyWithMoreFeaturesThanImages) {
  // LogME's F^T F is then singular: its zero eigenvalues still enter the evidence. H-score is
  // left out: which near-zero eigenvalues of a singular covariance a pseudo-inverse drops is
  // rounding, not definition.
  expect_matches_numpy(make_case(12, 20, 3, 4, 2), "wide", false);
}

TEST(Transferability, InformativeFeaturesAndSourcesScoreHigher) {
  const auto good = make_case(90, 6, 3, 3, 3);
  auto noise = good;
  noise.features = torch::randn_like(good.features);
  noise.probs = torch::softmax(torch::randn_like(good.probs), 1);
  EXPECT_GT(logme(good.features, good.labels, 3), logme(noise.features, noise.labels, 3));
  EXPECT_GT(h_score(good.features, good.labels, 3), h_score(noise.features, noise.labels, 3));
  EXPECT_GT(leep(good.probs, good.labels, 3), leep(noise.probs, noise.labels, 3));
  EXPECT_GT(nce(good.probs, good.labels, 3), nce(noise.probs, noise.labels, 3));
  // A source whose hard labels are the target's: NCE reaches its maximum, 0 = -H(Y | Z).
  const auto exact = torch::nn::functional::one_hot(good.labels, 3).to(torch::kFloat64);
  EXPECT_NEAR(nce(exact, good.labels, 3), 0.0, 1e-12);
}

TEST(Transferability, RefusesMismatchedShapesAndLabels) {
  const auto c = make_case(10, 4, 2, 3, 4);
  EXPECT_THROW(logme(c.features.narrow(0, 0, 9), c.labels, 2), aft::Error);
  EXPECT_THROW(leep(c.probs, c.labels + 5, 2), aft::Error);
}

}  // namespace
