#include "models/model.h"

#include <gtest/gtest.h>

#include <unordered_set>

#include "core/error.h"

using namespace segtransfer;

TEST(ModelRegistry, ListsTheNetworks) {
  std::vector<std::string> names;
  for (const auto& info : available_models()) names.push_back(info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet",
                                             "espnet_city", "espnetv2_s0.5", "espnetv2_s1", "espnetv2_s1.5",
                                             "espnetv2_s2", "deeplabv3_resnet50", "deeplabv2_resnet101"}));
}

TEST(ModelRegistry, UnknownNameListsTheAvailableOnes) {
  try {
    make_model("unet", 19);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'unet'"), std::string::npos) << m;
    EXPECT_NE(m.find("deeplabv2_resnet101"), std::string::npos) << m;
  }
  EXPECT_THROW(make_model("espnet", 0), Error);
}

class EveryModel : public ::testing::TestWithParam<std::string> {};

// Train mode, batch 2: logits at input size, finite; gradients reach the stem
// (in-place activations must not break autograd); head and backbone
// parameters partition the model.
TEST_P(EveryModel, ForwardBackwardAndParameterSplit) {
  torch::manual_seed(0);
  SegmentationModel model = make_model(GetParam(), 5);
  EXPECT_EQ(model->architecture(), GetParam());
  EXPECT_EQ(model->num_classes(), 5);

  const torch::Tensor x = torch::randn({2, 3, 64, 64});
  const SegOutput out = model->forward_features(x);
  EXPECT_EQ(out.logits.size(0), 2);
  EXPECT_EQ(out.logits.size(1), 5);
  EXPECT_EQ(out.features.size(1), model->feature_channels());
  const torch::Tensor logits = model->forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5, 64, 64}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  logits.square().mean().backward();
  const torch::Tensor stem_grad = model->parameters().front().grad();
  ASSERT_TRUE(stem_grad.defined());
  EXPECT_GT(stem_grad.abs().sum().item<double>(), 0.0);

  model->eval();
  const torch::Tensor single = model->forward(torch::randn({1, 3, 48, 40}));
  EXPECT_EQ(single.sizes(), (std::vector<int64_t>{1, 5, 48, 40}));

  EXPECT_THROW(model->forward(torch::randn({3, 32, 32})), Error);

  const auto head = model->head_parameters();
  const auto backbone = model->backbone_parameters();
  EXPECT_FALSE(head.empty());
  EXPECT_FALSE(backbone.empty());
  std::unordered_set<const c10::TensorImpl*> seen;
  for (const auto& p : head) EXPECT_TRUE(seen.insert(p.unsafeGetTensorImpl()).second);
  for (const auto& p : backbone) EXPECT_TRUE(seen.insert(p.unsafeGetTensorImpl()).second);
  EXPECT_EQ(seen.size(), model->parameters().size());
}

INSTANTIATE_TEST_SUITE_P(Models, EveryModel,
                         ::testing::Values("lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet",
                                           "espnetv2_s0.5", "espnetv2_s1", "espnetv2_s1.5", "deeplabv3_resnet50",
                                           "deeplabv2_resnet101"));

TEST(CountParameters, SumsAllParameterElements) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3));
  EXPECT_EQ(count_parameters(*conv), 4 * 3 * 3 * 3 + 4);
}
