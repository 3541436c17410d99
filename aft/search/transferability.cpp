#include "aft/search/transferability.h"

#include <torch/torch.h>

#include <cmath>

#include "aft/core/error.h"

namespace aft::search {
namespace {

torch::Tensor label_matrix(const torch::Tensor& labels, int64_t classes) {
  check(labels.dim() == 1 && labels.numel() > 0, "transferability: labels must be a non-empty vector");
  const auto y = labels.to(torch::kLong);
  check(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < classes, "transferability: a label is outside 0..",
        classes - 1);
  return torch::nn::functional::one_hot(y, classes).to(torch::kFloat64);
}

void check_rows(const torch::Tensor& x, const torch::Tensor& labels, const char* what) {
  check(x.dim() == 2 && x.size(0) == labels.size(0), "transferability: ", what, " must be [N, D] with N = ",
        labels.size(0), " labels");
}

// P(y, z) of the target label y and the source's label z, from soft source labels.
torch::Tensor joint(const torch::Tensor& source_probs, const torch::Tensor& labels, int64_t classes) {
  check_rows(source_probs, labels, "source probabilities");
  const auto theta = source_probs.to(torch::kFloat64);
  return label_matrix(labels, classes).t().mm(theta) / static_cast<double>(labels.size(0));  // [C, Z]
}

}  // namespace

double logme(const torch::Tensor& features, const torch::Tensor& labels, int64_t classes) {
  check_rows(features, labels, "features");
  const auto f = features.to(torch::kFloat64);
  const auto n = static_cast<double>(f.size(0));
  const auto d = static_cast<double>(f.size(1));
  const auto y = label_matrix(labels, classes);
  // F = U S V^T: the evidence needs F^T F's eigenvalues (S^2, zero beyond the rank) and the
  // projections of F^T y on its eigenvectors (none outside F's row space).
  auto svd = torch::linalg_svd(f, false);
  const auto s = std::get<1>(svd).pow(2);      // [r]
  const auto vh = std::get<2>(svd);             // [r, D]
  const double null_dims = d - static_cast<double>(s.size(0));
  double total = 0;
  for (int64_t k = 0; k < classes; ++k) {
    const auto yk = y.select(1, k);
    const auto t = vh.mv(f.t().mv(yk));         // V^T F^T y
    double alpha = 1.0, beta = 1.0;
    double m2 = 0, residual = 0;
    for (int iter = 0; iter < 100; ++iter) {
      // Posterior mean m = beta (alpha I + beta F^T F)^-1 F^T y, in the eigenbasis.
      const auto m_eig = t * beta / (alpha + beta * s);
      const double gamma = (beta * s / (alpha + beta * s)).sum().item<double>();
      m2 = m_eig.pow(2).sum().item<double>();
      residual = (yk - f.mv(vh.t().mv(m_eig))).pow(2).sum().item<double>();
      const double new_alpha = gamma / std::max(m2, 1e-12);
      const double new_beta = (n - gamma) / std::max(residual, 1e-12);
      const double change = std::abs(new_alpha / new_beta - alpha / beta) / (alpha / beta);
      alpha = new_alpha;
      beta = new_beta;
      if (change < 1e-10) break;
    }
    // The evidence at the fixed point, with m and the residual recomputed for its alpha, beta.
    const auto m_eig = t * beta / (alpha + beta * s);
    m2 = m_eig.pow(2).sum().item<double>();
    residual = (yk - f.mv(vh.t().mv(m_eig))).pow(2).sum().item<double>();
    const double log_det = (alpha + beta * s).log().sum().item<double>() + null_dims * std::log(alpha);
    const double evidence = d / 2 * std::log(alpha) + n / 2 * std::log(beta) - 0.5 * log_det - beta / 2 * residual -
                            alpha / 2 * m2 - n / 2 * std::log(2 * M_PI);
    total += evidence / n;
  }
  return total / static_cast<double>(classes);
}

double h_score(const torch::Tensor& features, const torch::Tensor& labels, int64_t classes) {
  check_rows(features, labels, "features");
  const auto f = features.to(torch::kFloat64);
  const auto y = label_matrix(labels, classes);
  const auto centred = f - f.mean(0, true);
  const auto cov_f = centred.t().mm(centred) / static_cast<double>(f.size(0) - 1);
  // Each image's feature replaced by its class's mean feature.
  const auto class_means = y.t().mm(f) / y.sum(0).clamp_min(1).unsqueeze(1);
  const auto g = y.mm(class_means);
  const auto g_centred = g - g.mean(0, true);
  const auto cov_g = g_centred.t().mm(g_centred) / static_cast<double>(f.size(0) - 1);
  // Pseudo-inverse of the symmetric cov(f): eigenvalues below 1e-15 x the largest count as zero.
  auto eig = torch::linalg_eigh(cov_f);
  const auto values = std::get<0>(eig), vectors = std::get<1>(eig);
  const double cutoff = 1e-15 * values.abs().max().item<double>();
  const auto inverse = torch::where(values.abs() > cutoff, 1.0 / values, torch::zeros_like(values));
  const auto pinv = vectors.mm(torch::diag(inverse)).mm(vectors.t());
  return torch::trace(pinv.mm(cov_g)).item<double>();
}

double leep(const torch::Tensor& source_probs, const torch::Tensor& labels, int64_t classes) {
  const auto p_yz = joint(source_probs, labels, classes);            // [C, Z]
  const auto p_y_given_z = p_yz / p_yz.sum(0, true).clamp_min(1e-300);
  const auto theta = source_probs.to(torch::kFloat64);               // [N, Z]
  const auto eep = theta.mm(p_y_given_z.t());                        // [N, C]: sum_z P(y|z) theta_z
  const auto picked = eep.gather(1, labels.to(torch::kLong).unsqueeze(1)).squeeze(1);
  return picked.clamp_min(1e-300).log().mean().item<double>();
}

double nce(const torch::Tensor& source_probs, const torch::Tensor& labels, int64_t classes) {
  check_rows(source_probs, labels, "source probabilities");
  const auto z = source_probs.argmax(1);
  const auto hard = torch::nn::functional::one_hot(z, source_probs.size(1)).to(torch::kFloat64);
  const auto p_yz = joint(hard, labels, classes);
  const auto p_z = p_yz.sum(0, true);
  const auto terms = torch::where(p_yz > 0, p_yz * (p_yz / p_z.clamp_min(1e-300)).log(), torch::zeros_like(p_yz));
  return terms.sum().item<double>();
}

}  // namespace aft::search
