#include "models/model_flops.h"

#include <gtest/gtest.h>

#include "models/lraspp.h"
#include "models/model_table.h"

using namespace segtransfer;

TEST(CountConvMacs, StridedPaddedDilatedGroupedConvolution) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).stride(2).padding(2).dilation(2).groups(2));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 4, 9, 7});
  // Output 5x4 per image; each output element costs in/groups × 3 × 3 = 18 MACs.
  EXPECT_EQ(count_conv_macs([&] { conv(x); }), 2 * 6 * 5 * 4 * 18);
}

TEST(CountConvMacs, TransposedConvolutionAndNothingElse) {
  torch::nn::ConvTranspose2d up(torch::nn::ConvTranspose2dOptions(3, 5, 2).stride(2).bias(false));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 3, 4, 6});
  // Every input element feeds out × 2 × 2 outputs.
  EXPECT_EQ(count_conv_macs([&] {
              torch::relu(up(x)).mean();
              torch::mm(torch::ones({4, 4}), torch::ones({4, 4}));
            }),
            3 * 4 * 6 * 5 * 4);
  EXPECT_EQ(count_conv_macs([] {}), 0);
}

TEST(CountConvMacs, WholeModelScalesWithInputAndRestoresMode) {
  LRASPP model(LRASPPOptions(19).variant(MobileNetV3Variant::kSmall));
  const int64_t small = count_conv_macs(*model, 64, 64);
  const int64_t large = count_conv_macs(*model, 128, 128);
  EXPECT_GT(small, 0);
  EXPECT_NEAR(static_cast<double>(large) / small, 4.0, 0.2);
  EXPECT_TRUE(model->is_training());
}

TEST(ModelTable, OneRowPerModel) {
  const std::string table = model_table(19, 64, 32);
  for (const auto& info : available_models()) {
    EXPECT_NE(table.find("| " + info.name + " |"), std::string::npos) << table;
  }
  EXPECT_NE(table.find("| 43,901,068 |"), std::string::npos) << table;  // deeplabv2_resnet101, 19 classes
}
