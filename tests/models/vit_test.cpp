// ViT stochastic depth (--drop-path): inert in eval mode, drops whole residual branches in training.
#include "aft/models/vit.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/models/weights.h"

namespace {

using aft::models::EncoderBlock;

TEST(VitDropPath, ARateOfOneSkipsBothBranchesInTraining) {
  torch::manual_seed(3);
  EncoderBlock block(16, 2, 32, 1.0);
  const auto x = torch::randn({4, 5, 16});
  block.train();
  EXPECT_TRUE(torch::equal(block.forward(x), x));
  block.eval();
  EXPECT_FALSE(torch::allclose(block.forward(x), x));
}

TEST(VitDropPath, EvalModeIsUnchangedAndTrainingIsStochastic) {
  aft::models::ModelConfig c;
  c.arch = "vit_ti_4";
  c.image_size = 16;
  c.num_classes = 3;
  torch::manual_seed(1);
  auto plain = aft::models::build_model(c);
  c.drop_path = 0.5;
  auto dropping = aft::models::build_model(c);
  aft::models::load_state_dict(*dropping, aft::models::state_dict(*plain), {}, "plain");
  torch::manual_seed(2);
  const auto x = torch::randn({6, 3, 16, 16});
  plain->eval();
  dropping->eval();
  // Features, not logits: a fresh ViT head is zero (torchvision's init), so its logits are all 0.
  EXPECT_TRUE(torch::allclose(plain->features(x), dropping->features(x), 1e-6, 1e-6));
  dropping->train();
  EXPECT_FALSE(torch::allclose(dropping->features(x), dropping->features(x))) << "each pass drops other branches";
  EXPECT_EQ(aft::models::ModelConfig::from_json(c.to_json()).drop_path, 0.5);
}

// The fused kernel (LibTorch 2.0 on) must compute what the spelled-out attention computes,
// forward and backward; torchvision_equivalence_test checks the whole ViT against torchvision.
TEST(VitAttention, FusedKernelEqualsTheUnfusedFormWithGradients) {
  if (!aft::models::fused_attention_available()) GTEST_SKIP() << "this LibTorch has no fused attention (before 2.0)";
  torch::manual_seed(5);
  const auto make = [] { return torch::randn({3, 4, 17, 8}, torch::kFloat64).requires_grad_(true); };
  auto q = make(), k = make(), v = make();
  const auto fused = aft::models::attention(q, k, v);
  const auto plain = aft::models::attention_unfused(q, k, v);
  EXPECT_TRUE(torch::allclose(fused, plain, 1e-10, 1e-10));
  const auto w = torch::randn_like(fused);
  const auto grads_fused = torch::autograd::grad({(fused * w).sum()}, {q, k, v});
  const auto grads_plain = torch::autograd::grad({(plain * w).sum()}, {q, k, v});
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(grads_fused[i], grads_plain[i], 1e-9, 1e-9)) << i;
}

}  // namespace
