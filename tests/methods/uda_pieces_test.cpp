// The shared pieces of the UDA methods, against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "methods/common/feature_distillation.h"
#include "methods/common/metric_learning.h"
#include "methods/common/mixing.h"
#include "methods/common/saliency.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;

TEST(ProxyAnchor, MatchesAHandComputedValue) {
  // Proxies e0, e1; x0 = e0 (class 0), x1 = (0.6, 0.8) (class 1); alpha 2, delta 0.1.
  const auto proxies = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2});
  const auto x = torch::tensor({1.0f, 0.0f, 0.6f, 0.8f}).view({2, 2});
  const auto labels = torch::tensor({0, 1}, torch::kLong);
  const double positive = (std::log1p(std::exp(-2 * (1 - 0.1))) + std::log1p(std::exp(-2 * (0.8 - 0.1)))) / 2;
  const double negative = (std::log1p(std::exp(2 * (0.6 + 0.1))) + std::log1p(std::exp(2 * (0.0 + 0.1)))) / 2;
  EXPECT_NEAR(proxy_anchor_loss(x, labels, proxies, 2.0, 0.1).item<double>(), positive + negative, 1e-5);
  // A class absent from the batch has no positive term but still repels: only class 0 present.
  const double only0 = std::log1p(std::exp(-2 * 0.9)) / 1 + (0 + std::log1p(std::exp(2 * 0.1))) / 2;
  EXPECT_NEAR(proxy_anchor_loss(x.narrow(0, 0, 1), labels.narrow(0, 0, 1), proxies, 2.0, 0.1).item<double>(), only0,
              1e-5);
  EXPECT_TRUE(contains(error_of([&] { proxy_anchor_loss(x, labels.narrow(0, 0, 1), proxies, 2.0, 0.1); }), "fit"));
}

TEST(ProxyAnchor, ReliabilityIsTheProxySoftmaxAtTheLabel) {
  const auto proxies = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({2, 2});
  const auto e = torch::tensor({0.6f, 0.8f}).view({1, 2, 1, 1});  // (N, D, h, w)
  const double expected = std::exp(2 * 0.8) / (std::exp(2 * 0.6) + std::exp(2 * 0.8));
  EXPECT_NEAR(proxy_reliability(e, torch::ones({1, 1, 1}, torch::kLong), proxies, 2.0).item<double>(), expected, 1e-6);
  MetricHead head(MetricHeadOptions(8, 3).hidden_channels(4).embedding_dim(5));
  const auto out = head->forward(torch::randn({2, 8, 3, 4}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 5, 3, 4}));
  EXPECT_TRUE(torch::allclose(out.norm(2, 1), torch::ones({2, 3, 4}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(head->normalised_proxies().norm(2, 1), torch::ones({3}), 1e-5, 1e-5));
}

TEST(ProxyAnchor, ClassBalancedReliabilityGivesEveryClassTheMeanAndKeepsItsRanking) {
  // Class 0 at 0.2 and 0.4 (mean 0.3), class 1 at 0.6 and 0.8 (mean 0.7); all: 0.5.
  const auto reliability = torch::tensor({0.2f, 0.6f, 0.4f, 0.8f}).view({1, 2, 2});
  const auto labels = torch::tensor({0, 1, 0, 1}, torch::kLong).view({1, 2, 2});
  const auto balanced = class_balanced_reliability(reliability, labels, 3);
  const auto expected = torch::tensor({0.2f / 0.6f, 0.6f / 1.4f, 0.4f / 0.6f, 0.8f / 1.4f}).view({1, 2, 2});
  EXPECT_TRUE(torch::allclose(balanced, expected, 1e-5, 1e-6)) << balanced;
  // Class 0 (mean 0.05) far below the mean of all (3.7 / 6): lifted 12.3x, its best pixel capped at 1.
  const auto lifted = class_balanced_reliability(torch::tensor({0.01f, 0.09f, 0.9f, 0.9f, 0.9f, 0.9f}),
                                                 torch::tensor({0, 0, 1, 1, 1, 1}), 2);
  EXPECT_NEAR(lifted[0].item<float>(), 0.01 * (3.7 / 6) / 0.05, 1e-5);
  EXPECT_FLOAT_EQ(lifted[1].item<float>(), 1.0f);
  EXPECT_TRUE(contains(error_of([&] { class_balanced_reliability(reliability, labels.flatten(), 3); }), "shape"));
}

TEST(ClassMix, ReliableMaskPastesOnlyTheReliableHalfOfAPickedClass) {
  // Class 1 is reliable (its 4 pixels 0.6..0.9), class 2 nearly never (1e-9 mean): class 1 is picked.
  const auto labels = torch::tensor({1, 1, 1, 1, 2, 2}).view({2, 3});
  const auto reliability = torch::tensor({0.6f, 0.7f, 0.8f, 0.9f, 1e-9f, 1e-9f}).view({2, 3});
  std::mt19937_64 rng(3);
  const auto mask = reliable_class_mix_mask(labels, reliability, rng);
  // One class of two; above class 1's (lower) median 0.7: the pixels at 0.8 and 0.9.
  EXPECT_TRUE(torch::equal(mask, torch::tensor({false, false, true, true, false, false}).view({2, 3})));
  EXPECT_FALSE(
      reliable_class_mix_mask(torch::full({2, 2}, 255, torch::kLong), torch::ones({2, 2}), rng).any().item<bool>());
}

TEST(Saliency, NonSalientMasksRatesAndTheMaskedStepTouchOnlyTheMask) {
  auto w = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).requires_grad_(true);
  ParameterSaliency saliency({{"w", w}}, 0.5);
  w.mutable_grad() = torch::tensor({1.0f, 0.0f, 1.0f, 1.0f});
  saliency.accumulate();  // first update: |w * g| = (1, 0, 3, 4)
  w.mutable_grad() = torch::tensor({3.0f, 0.0f, 1.0f, 1.0f});
  saliency.accumulate();                               // 0.5 (1, 0, 3, 4) + 0.5 (3, 0, 3, 4) = (2, 0, 3, 4)
  const auto masks = saliency.non_salient_masks(0.5);  // median 2.5
  EXPECT_TRUE(torch::equal(masks[0], torch::tensor({true, true, false, false})));
  EXPECT_DOUBLE_EQ(saliency.saliency_rates(1e-8)[0].second, 0.25);

  w.mutable_grad() = torch::ones({4});
  const auto before = w.detach().clone();
  masked_sgd_step({w}, masks, 0.1);
  EXPECT_TRUE(torch::allclose(w.detach(), before - torch::tensor({0.1f, 0.1f, 0.0f, 0.0f})));

  // The state survives a checkpoint.
  torch::serialize::OutputArchive out;
  saliency.save(out, "s");
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  auto v = torch::zeros({4}).requires_grad_(true);
  ParameterSaliency restored({{"w", v}}, 0.5);
  restored.load(in, "s");
  EXPECT_TRUE(torch::equal(restored.non_salient_masks(0.5)[0], masks[0]));
}

TEST(FeatureDistillation, AdapterShapesAndLoss) {
  FeatureAdapter adapter(FeatureAdapterOptions(16, 40));
  const auto adapted = adapter->forward(torch::randn({2, 16, 4, 6}));
  EXPECT_EQ(adapted.sizes(), (std::vector<int64_t>{2, 40, 4, 6}));
  // The teacher's grid is resized to the student's: a constant map stays constant.
  const auto teacher = torch::full({2, 40, 8, 12}, 0.5);
  const auto student = torch::full({2, 40, 4, 6}, 1.5);
  EXPECT_NEAR(feature_distillation_loss(student, teacher).item<double>(), 40.0, 1e-4);  // Σ_c 1² per pixel
  EXPECT_TRUE(contains(error_of([&] {
                         feature_distillation_loss(student, torch::zeros({2, 39, 8, 12}));
                       }),
                       "channels"));
}
