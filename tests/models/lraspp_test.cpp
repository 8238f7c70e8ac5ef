#include "models/lraspp.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace segtransfer;
using namespace segtransfer::testing;

// torchvision documents lraspp_mobilenet_v3_large at 3,221,538 parameters (21 classes).
TEST(LRASPP, LargeMatchesTorchvision) {
  LRASPP model(LRASPPOptions(21));
  EXPECT_EQ(count_parameters(*model), 3221538);
  EXPECT_EQ(count_parameters(*model->named_children()["backbone"]),
            2971952);  // mobilenet_v3_large minus its classifier
  EXPECT_EQ(shape_of(*model, "backbone.0.0.weight"), (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(shape_of(*model, "backbone.1.block.0.0.weight"),
            (std::vector<int64_t>{16, 1, 3, 3}));  // depthwise, no expand
  EXPECT_EQ(shape_of(*model, "backbone.4.block.2.fc1.weight"), (std::vector<int64_t>{24, 72, 1, 1}));  // SE: 72/4 → 24
  EXPECT_EQ(shape_of(*model, "backbone.4.block.2.fc2.bias"), (std::vector<int64_t>{72}));
  EXPECT_EQ(shape_of(*model, "backbone.13.block.1.0.weight"), (std::vector<int64_t>{672, 1, 5, 5}));
  EXPECT_EQ(shape_of(*model, "backbone.16.0.weight"), (std::vector<int64_t>{960, 160, 1, 1}));
  EXPECT_EQ(shape_of(*model, "backbone.16.1.num_batches_tracked"), (std::vector<int64_t>{}));
  EXPECT_EQ(shape_of(*model, "classifier.cbr.0.weight"), (std::vector<int64_t>{128, 960, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.cbr.1.running_var"), (std::vector<int64_t>{128}));
  EXPECT_EQ(shape_of(*model, "classifier.scale.1.weight"), (std::vector<int64_t>{128, 960, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.low_classifier.weight"), (std::vector<int64_t>{21, 40, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.high_classifier.weight"), (std::vector<int64_t>{21, 128, 1, 1}));
}

TEST(LRASPP, LastStageIsDilatedNotStrided) {
  LRASPP model(LRASPPOptions(21));
  auto modules = model->named_modules();
  const auto& depthwise = modules["backbone.13.block.1.0"]->as<torch::nn::Conv2d>()->options;
  EXPECT_EQ(depthwise.stride()->at(0), 1);
  EXPECT_EQ(depthwise.dilation()->at(0), 2);
  EXPECT_EQ(c10::get<torch::ExpandingArray<2>>(depthwise.padding())->at(0), 4);
  EXPECT_DOUBLE_EQ(modules["backbone.0.1"]->as<segtransfer::BatchNorm2d>()->options.eps(), 1e-3);
  EXPECT_DOUBLE_EQ(modules["classifier.cbr.1"]->as<segtransfer::BatchNorm2d>()->options.eps(), 1e-5);
}

TEST(LRASPP, StridesOfLogitsAndFeatures) {
  LRASPP model(LRASPPOptions(21));
  model->eval();
  const SegOutput out = model->forward_features(torch::randn({1, 3, 64, 64}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 21, 8, 8}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{1, 960, 4, 4}));
}

TEST(LRASPP, SmallUsesC2LowFeatures) {
  LRASPP model(LRASPPOptions(21).variant(MobileNetV3Variant::kSmall));
  EXPECT_EQ(count_parameters(*model), 1077954);
  EXPECT_EQ(count_parameters(*model->named_children()["backbone"]), 927008);  // mobilenet_v3_small minus its classifier
  EXPECT_EQ(shape_of(*model, "classifier.low_classifier.weight"), (std::vector<int64_t>{21, 24, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.cbr.0.weight"), (std::vector<int64_t>{128, 576, 1, 1}));
  EXPECT_EQ(shape_of(*model, "backbone.1.block.1.fc1.weight"), (std::vector<int64_t>{8, 16, 1, 1}));
  model->eval();
  const SegOutput out = model->forward_features(torch::randn({1, 3, 64, 64}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 21, 8, 8}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{1, 576, 4, 4}));
}

TEST(MobileNetV3, MakeDivisibleMatchesTorchvision) {
  EXPECT_EQ(make_divisible(72 / 4), 24);
  EXPECT_EQ(make_divisible(16 / 4), 8);
  EXPECT_EQ(make_divisible(960 / 4), 240);
  EXPECT_EQ(make_divisible(88 / 4), 24);
}
