// The trunk as a chain of pieces (model.h): running the pieces in two parts gives exactly the
// features of one forward, and every trunk parameter belongs to exactly one piece.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/models/model.h"

namespace {

aft::models::ModelPtr small(const std::string& arch, int64_t image) {
  torch::manual_seed(5);
  aft::models::ModelConfig c;
  c.arch = arch;
  c.num_classes = 4;
  c.image_size = image;
  if (arch.rfind("resnet", 0) == 0) {
    c.stem = "small";
    c.width = 0.125;
  }
  return aft::models::build_model(c);
}

TEST(ModelPieces, SplitRunsEqualOneForward) {
  for (const auto& [arch, image] : std::vector<std::pair<std::string, int64_t>>{
           {"resnet18", 16}, {"resnet26", 16}, {"resnet50", 16}, {"vit_ti_4", 16}, {"efficientnet_lite0", 17}}) {
    auto m = small(arch, image);
    m->eval();
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({3, 3, image, image});
    const auto whole = m->features(x);
    const int64_t n = m->piece_count();
    ASSERT_GT(n, 2) << arch;
    for (int64_t cut : {int64_t{1}, n / 2, n - 1, n}) {
      const auto prefix = m->run_pieces(x, 0, cut);
      const auto split = m->trunk_end(m->run_pieces(prefix, cut, n));
      EXPECT_TRUE(torch::equal(split, whole)) << arch << " cut after piece " << cut;
    }
    EXPECT_TRUE(torch::equal(m->head(whole), m->forward(x))) << arch;
    EXPECT_THROW(m->run_pieces(x, 2, 1), aft::Error);
    EXPECT_THROW(m->run_pieces(x, 0, n + 1), aft::Error);
  }
}

TEST(ModelPieces, EveryTrunkParameterIsInExactlyOnePiece) {
  for (const std::string arch : {"resnet18", "resnet26", "vit_ti_4", "efficientnet_lite0"}) {
    auto m = small(arch, 16);
    for (const auto& p : m->named_parameters(true)) {
      int owners = 0;
      for (int64_t i = 0; i < m->piece_count(); ++i) owners += m->in_piece(p.key(), i);
      // The head and what follows the last piece (ViT's final norm, ResNet-26's final BN)
      // belong to no piece.
      const bool after = aft::models::is_head_param(*m, p.key()) || p.key().rfind("encoder.ln.", 0) == 0 ||
                         p.key().rfind("final_bn.", 0) == 0;
      EXPECT_EQ(owners, after ? 0 : 1) << arch << " " << p.key();
    }
  }
}

}  // namespace
