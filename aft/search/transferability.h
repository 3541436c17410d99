// Transferability estimators (docs/auto.md, `aft rank`): how well a source model's frozen
// outputs on the target's training images predict the target's labels, from one forward pass
// and no fine-tuning. All work in float64 and return "higher is better".
//   LogME   (You et al. 2021): the log marginal evidence per image of a Bayesian linear model from
//           the features to each one-hot label column, maximised over its two precisions, averaged
//           over the classes.
//   LEEP    (Nguyen et al. 2020): the mean log-likelihood of the target labels under the source
//           head's soft labels followed by the empirical conditional P(y | z).
//   NCE     (Tran et al. 2019): -H(Y | Z) with Z the source head's hard labels.
//   H-score (Bao et al. 2019): tr(cov(f)^+ cov(E[f | y])), the features' between-class spread
//           measured in their own covariance.
#pragma once
#include <torch/types.h>

namespace aft::search {

// features [N, D], labels [N] in 0..classes-1.
double logme(const torch::Tensor& features, const torch::Tensor& labels, int64_t classes);
double h_score(const torch::Tensor& features, const torch::Tensor& labels, int64_t classes);
// source_probs [N, Z]: the source head's softmax over its own Z classes.
double leep(const torch::Tensor& source_probs, const torch::Tensor& labels, int64_t classes);
double nce(const torch::Tensor& source_probs, const torch::Tensor& labels, int64_t classes);

}  // namespace aft::search
