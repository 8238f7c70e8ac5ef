#include <gtest/gtest.h>

#include "test_util.h"

#include "core/error.h"
#include "models/deeplabv2.h"
#include "models/deeplabv3.h"

using namespace segtransfer;
using namespace segtransfer::testing;

namespace {

torch::nn::detail::ConvNdOptions<2> conv_options(torch::nn::Module& m, const std::string& name) {
  return m.named_modules()[name]->as<torch::nn::Conv2d>()->options;
}

}  // namespace

// torchvision documents deeplabv3_resnet50 at 42,004,074 parameters with its aux
// head (21 classes); the FCNHead(1024, 21) aux head holds 2,365,205 of them.
TEST(DeepLabV3, MatchesTorchvisionWithoutAux) {
  DeepLabV3 model(DeepLabV3Options(21));
  EXPECT_EQ(count_parameters(*model), 42004074 - 2365205);
  EXPECT_EQ(count_parameters(*model->named_children()["backbone"]), 25557032 - 2049000);  // resnet50 minus fc
  EXPECT_EQ(shape_of(*model, "backbone.conv1.weight"), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(shape_of(*model, "backbone.layer1.0.downsample.0.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shape_of(*model, "backbone.layer3.0.downsample.1.running_mean"), (std::vector<int64_t>{1024}));
  EXPECT_EQ(shape_of(*model, "backbone.layer4.2.conv3.weight"), (std::vector<int64_t>{2048, 512, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.0.convs.0.0.weight"), (std::vector<int64_t>{256, 2048, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.0.convs.3.0.weight"), (std::vector<int64_t>{256, 2048, 3, 3}));
  EXPECT_EQ(shape_of(*model, "classifier.0.convs.4.1.weight"), (std::vector<int64_t>{256, 2048, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.0.convs.4.2.num_batches_tracked"), (std::vector<int64_t>{}));
  EXPECT_EQ(shape_of(*model, "classifier.0.project.0.weight"), (std::vector<int64_t>{256, 1280, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.1.weight"), (std::vector<int64_t>{256, 256, 3, 3}));
  EXPECT_EQ(shape_of(*model, "classifier.4.weight"), (std::vector<int64_t>{21, 256, 1, 1}));
  EXPECT_EQ(shape_of(*model, "classifier.4.bias"), (std::vector<int64_t>{21}));
}

// replace_stride_with_dilation = [False, True, True]: a dilated layer's first
// block keeps the previous dilation (torchvision's _make_layer).
TEST(DeepLabV3, DilationScheduleAndOutputStride8) {
  DeepLabV3 model(DeepLabV3Options(3));
  EXPECT_EQ(conv_options(*model, "backbone.layer2.0.conv2").stride()->at(0), 2);
  EXPECT_EQ(conv_options(*model, "backbone.layer3.0.conv2").stride()->at(0), 1);
  EXPECT_EQ(conv_options(*model, "backbone.layer3.0.conv2").dilation()->at(0), 1);
  EXPECT_EQ(conv_options(*model, "backbone.layer3.1.conv2").dilation()->at(0), 2);
  EXPECT_EQ(conv_options(*model, "backbone.layer4.0.conv2").dilation()->at(0), 2);
  EXPECT_EQ(conv_options(*model, "backbone.layer4.2.conv2").dilation()->at(0), 4);
  EXPECT_EQ(conv_options(*model, "classifier.0.convs.1.0").dilation()->at(0), 12);
  model->eval();
  const SegOutput out = model->forward_features(torch::randn({1, 3, 64, 64}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{1, 2048, 8, 8}));
}

// ResNet-101 (44,549,160 with its 1000-class fc) + 4 × Conv2d(2048, C, 3).
TEST(DeepLabV2, MatchesTheUdaReference) {
  DeepLabV2 model(DeepLabV2Options(21));
  EXPECT_EQ(count_parameters(*model), 44549160 - 2049000 + 4 * (2048 * 21 * 9 + 21));
  EXPECT_EQ(count_parameters(*DeepLabV2(DeepLabV2Options(19))), 43901068);
  EXPECT_EQ(shape_of(*model, "conv1.weight"), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(shape_of(*model, "bn1.running_var"), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape_of(*model, "layer1.0.conv1.weight"), (std::vector<int64_t>{64, 64, 1, 1}));
  EXPECT_EQ(shape_of(*model, "layer1.0.downsample.0.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shape_of(*model, "layer3.22.bn3.weight"), (std::vector<int64_t>{1024}));
  EXPECT_EQ(shape_of(*model, "layer4.0.downsample.1.weight"), (std::vector<int64_t>{2048}));
  EXPECT_EQ(shape_of(*model, "layer5.conv2d_list.0.weight"), (std::vector<int64_t>{21, 2048, 3, 3}));
  EXPECT_EQ(shape_of(*model, "layer5.conv2d_list.3.bias"), (std::vector<int64_t>{21}));
  // Caffe-style: the stride sits in the first 1x1 conv; layer3/4 dilate every block.
  EXPECT_EQ(conv_options(*model, "layer2.0.conv1").stride()->at(0), 2);
  EXPECT_EQ(conv_options(*model, "layer2.0.conv2").stride()->at(0), 1);
  EXPECT_EQ(conv_options(*model, "layer3.0.conv2").dilation()->at(0), 2);
  EXPECT_EQ(conv_options(*model, "layer4.0.conv2").dilation()->at(0), 4);
  EXPECT_EQ(conv_options(*model, "layer5.conv2d_list.3").dilation()->at(0), 24);
}

TEST(DeepLabV2, OutputStride8WithCeilModePooling) {
  DeepLabV2 model(DeepLabV2Options(4));
  model->eval();
  // 33 → conv1 17 → ceil-mode max-pool 9 → layer2 5.
  const SegOutput out = model->forward_features(torch::randn({1, 3, 33, 33}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 4, 5, 5}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{1, 2048, 5, 5}));
  EXPECT_EQ(model->forward(torch::randn({1, 3, 33, 33})).sizes(), (std::vector<int64_t>{1, 4, 33, 33}));
}

TEST(DeepLabV2, ClassifierSumsTheConfiguredBranches) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 8, 6, 6});
  DeepLabV2Classifier all(8, 3, std::vector<int64_t>{1, 2, 3, 4}, 4);
  DeepLabV2Classifier first_two(8, 3, std::vector<int64_t>{1, 2, 3, 4}, 2);
  std::vector<torch::Tensor> branch;
  auto params = all->named_parameters();
  auto target = first_two->named_parameters();
  for (const auto& p : params) target[p.key()].copy_(p.value());
  for (int i = 0; i < 4; ++i) {
    const std::string prefix = "conv2d_list." + std::to_string(i) + ".";
    branch.push_back(torch::conv2d(x, params[prefix + "weight"], params[prefix + "bias"], 1, i + 1, i + 1));
  }
  EXPECT_TRUE(torch::allclose(all(x), branch[0] + branch[1] + branch[2] + branch[3], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(first_two(x), branch[0] + branch[1], 1e-5, 1e-5));
  EXPECT_THROW(DeepLabV2Classifier(8, 3, std::vector<int64_t>{1, 2}, 3), Error);
}
