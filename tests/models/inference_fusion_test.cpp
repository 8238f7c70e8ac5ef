#include "models/inference_fusion.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "models/batch_norm.h"
#include "models/model.h"
#include "test_util.h"

using namespace segtransfer;

namespace {

int64_t count_batch_norms(torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& module : model.modules()) n += dynamic_cast<BatchNorm2dImpl*>(module.get()) != nullptr;
  return n;
}

}  // namespace

class FoldEveryModel : public ::testing::TestWithParam<std::string> {};

// The folded network computes what the unfolded one does (eval mode), with
// fewer BatchNorm passes; MobileNetV3 and ResNet have a convolution before every BN.
TEST_P(FoldEveryModel, SameLogitsAfterFolding) {
  torch::manual_seed(0);
  SegmentationModel model = make_model(GetParam(), 7);
  segtransfer::testing::randomise_batch_norm(*model);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto input = torch::randn({1, 3, 96, 128});
  const auto before = model->forward(input);
  const int64_t folded = fold_batch_norm(*model);
  const auto after = model->forward(input);
  EXPECT_GT(folded, 0);
  // ESPNet and ESPNetv2 also normalise concatenations and sums (BR blocks): those stay.
  if (GetParam().rfind("espnet", 0) != 0) EXPECT_EQ(folded, count_batch_norms(*model));
  const double scale = before.abs().max().item<double>();
  EXPECT_LE((after - before).abs().max().item<double>(), 1e-4 * std::max(1.0, scale)) << "scale " << scale;
  // Folding twice does nothing more.
  EXPECT_EQ(fold_batch_norm(*model), 0);
}

INSTANTIATE_TEST_SUITE_P(Models, FoldEveryModel,
                         ::testing::Values("lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet",
                                           "espnetv2_s1", "deeplabv3_resnet50", "deeplabv2_resnet101"));

TEST(FoldBatchNorm, RefusesATrainingModelAndAFoldedOneCannotTrain) {
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 3);
  model->train();
  EXPECT_THROW(fold_batch_norm(*model), Error);
  model->eval();
  fold_batch_norm(*model);
  model->train();
  EXPECT_ANY_THROW(model->forward(torch::randn({1, 3, 64, 64})));
}
