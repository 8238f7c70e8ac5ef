// EMA arithmetic, ClassMix masks, strong augmentation and the losses.
#include <gtest/gtest.h>

#include <set>

#include "methods/common/ema.h"
#include "methods/common/losses.h"
#include "methods/common/mixing.h"
#include "methods/common/strong_augment.h"
#include "test_util.h"

using namespace segtransfer;

TEST(Ema, FollowsTheMomentumSchedule) {
  EXPECT_DOUBLE_EQ(EmaModel::momentum_at(0, 0.999), 0.0);  // first update: a copy
  EXPECT_DOUBLE_EQ(EmaModel::momentum_at(1, 0.999), 0.5);
  EXPECT_DOUBLE_EQ(EmaModel::momentum_at(100000, 0.999), 0.999);

  auto student = make_model("lraspp_mobilenet_v3_small", 3);
  EmaModel ema("lraspp_mobilenet_v3_small", *student, torch::kCPU);
  auto s = student->parameters()[0], e = ema.model().parameters()[0];
  EXPECT_TRUE(torch::equal(s, e));
  const auto before = e.clone();
  {
    torch::NoGradGuard g;
    s.add_(1.0);
  }
  ema.update(*student, 1, 0.999);  // α = 0.5
  EXPECT_TRUE(torch::allclose(e, 0.5 * before + 0.5 * s));
  EXPECT_FALSE(e.requires_grad());
}

// A teacher that starts as a trained model keeps α from the first step, and its
// BatchNorm statistics move by the same average instead of being copied.
namespace {
// The first BatchNorm's running mean, found by name in any model.
torch::Tensor first_running_mean(SegmentationModelImpl& model) {
  for (const auto& item : model.named_buffers())
    if (item.key().find("running_mean") != std::string::npos) return item.value();
  return torch::Tensor();
}
}  // namespace

TEST(Ema, TrainedStartAveragesFromTheFirstStepAndAveragedStatisticsFollowTheWeights) {
  auto student = make_model("lraspp_mobilenet_v3_small", 3);
  EmaModel ema("lraspp_mobilenet_v3_small", *student, torch::kCPU, EmaStart::kTrained, EmaStatistics::kAveraged);
  auto s = student->parameters()[0], e = ema.model().parameters()[0];
  torch::Tensor s_mean = first_running_mean(*student), e_mean = first_running_mean(ema.model());
  ASSERT_TRUE(s_mean.defined() && e_mean.defined());
  const auto before = e.clone(), mean_before = e_mean.clone();
  {
    torch::NoGradGuard g;
    s.add_(1.0);
    s_mean.add_(1.0);
  }
  ema.update(*student, 0, 0.9);  // α = 0.9 already at step 0 (the ramp would copy)
  EXPECT_TRUE(torch::allclose(e, 0.9 * before + 0.1 * s));
  EXPECT_TRUE(torch::allclose(e_mean, 0.9 * mean_before + 0.1 * s_mean));
}

TEST(Ema, AveragedStatisticsFollowTheRampCopiedOnesTheStudent) {
  auto student = make_model("lraspp_mobilenet_v3_small", 3);
  EmaModel averaged("lraspp_mobilenet_v3_small", *student, torch::kCPU, EmaStart::kRampUp, EmaStatistics::kAveraged);
  EmaModel copied("lraspp_mobilenet_v3_small", *student, torch::kCPU);
  auto s_mean = first_running_mean(*student);
  ASSERT_TRUE(s_mean.defined());
  torch::NoGradGuard g;
  s_mean.fill_(1.0);
  averaged.update(*student, 0, 0.999);  // α_0 = 0: a copy
  EXPECT_TRUE(torch::allclose(first_running_mean(averaged.model()), s_mean));
  s_mean.fill_(3.0);
  averaged.update(*student, 1, 0.999);  // α_1 = 0.5
  copied.update(*student, 1, 0.999);
  EXPECT_TRUE(torch::allclose(first_running_mean(averaged.model()), torch::full_like(s_mean, 2.0)));
  EXPECT_TRUE(torch::allclose(first_running_mean(copied.model()), s_mean));
}

// A channels-last student gets a channels-last EMA with the same values, and the
// network computes the same logits in either layout.
TEST(Ema, KeepsTheStudentsChannelsLastLayout) {
  torch::manual_seed(0);
  auto student = make_model("lraspp_mobilenet_v3_small", 3);
  student->eval();
  const auto input = torch::randn({1, 3, 64, 96});
  torch::Tensor nchw;
  {
    torch::NoGradGuard g;
    nchw = student->forward(input);
  }
  use_channels_last(*student);
  const auto weight = student->parameters()[0];
  ASSERT_EQ(weight.dim(), 4);
  EXPECT_TRUE(weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EmaModel ema("lraspp_mobilenet_v3_small", *student, torch::kCPU);
  const auto e = ema.model().parameters()[0];
  EXPECT_TRUE(e.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(e, weight));
  torch::NoGradGuard g;
  EXPECT_LE((student->forward(input) - nchw).abs().max().item<double>(), 1e-4);
  EXPECT_LE((ema.model().forward(input) - nchw).abs().max().item<double>(), 1e-4);
}

// The ramped EMA's first update copies the student: the two then compute the same
// logits, for every network a student can be (a layout detail of one network, say a
// buffer or parameter order, would break its EMA teacher silently).
TEST(Ema, FirstUpdateMakesTheSameNetworkForEveryModel) {
  for (const ModelInfo& info : available_models()) {
    if (!info.student) continue;  // the large teachers take too long here
    SCOPED_TRACE(info.name);
    torch::manual_seed(0);
    auto student = make_model(info.name, 11);
    use_channels_last(*student);
    EmaModel ema(info.name, *student, torch::kCPU);
    const auto input = torch::randn({2, 3, 64, 96});
    student->train();
    {
      torch::NoGradGuard g;
      student->forward(input);  // moves the BatchNorm statistics away from the EMA's
      for (auto& p : student->parameters()) p.add_(0.01 * torch::randn_like(p));
    }
    ema.update(*student, 0, 0.999);
    student->eval();
    torch::NoGradGuard g;
    EXPECT_LE((ema.model().forward(input) - student->forward(input)).abs().max().item<double>(), 1e-4);
  }
}

TEST(ClassMix, MaskTakesHalfOfThePresentClassesAndMixesLabelsConsistently) {
  auto labels = torch::tensor({0, 0, 1, 1, 2, 2, 3, 255}).view({2, 4});
  std::mt19937_64 rng(5);
  auto mask = class_mix_mask(labels, rng);
  std::set<int64_t> picked;
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (mask.flatten()[i].item<bool>()) picked.insert(labels.flatten()[i].item<int64_t>());
  EXPECT_EQ(picked.size(), 2u);  // half of {0, 1, 2, 3}
  EXPECT_EQ(picked.count(255), 0u);
  // Every pixel of a picked class is in the mask.
  for (int64_t i = 0; i < labels.numel(); ++i)
    EXPECT_EQ(mask.flatten()[i].item<bool>(), picked.count(labels.flatten()[i].item<int64_t>()) > 0);

  // Images and labels mixed with the same masks stay aligned.
  auto batch_labels = torch::stack({labels, labels + 10});
  auto masks = torch::stack({mask, torch::zeros_like(mask)});
  auto images = batch_labels.to(torch::kFloat32).unsqueeze(1).repeat({1, 3, 1, 1});
  auto mixed_labels = mix_with_next(masks, batch_labels);
  auto mixed_images = mix_with_next(masks, images);
  EXPECT_TRUE(torch::equal(mixed_images.select(1, 2).to(torch::kLong), mixed_labels));
  EXPECT_TRUE(torch::equal(mixed_labels[1], labels));  // element 1 with no mask takes element 0
}

TEST(StrongAugment, ChangesPixelsButNotShapeAndIsSeeded) {
  torch::manual_seed(0);
  auto images = torch::randn({3, 3, 32, 32});
  StrongAugmentOptions o;
  o.jitter_p = 1, o.blur_p = 1;
  std::mt19937_64 a(1), b(1);
  auto x = strong_augment(images, o, a), y = strong_augment(images, o, b);
  EXPECT_EQ(x.sizes(), images.sizes());
  EXPECT_TRUE(torch::equal(x, y));
  EXPECT_GT((x - images).abs().mean().item<double>(), 0.01);
}

TEST(Losses, WeightedCrossEntropyAndSoftDistillation) {
  auto logits = torch::zeros({1, 2, 1, 2});
  auto labels = torch::tensor({0, 255}).view({1, 1, 2});
  // ln 2 on the one kept pixel, 0 on the ignored one, weight 0.5: mean = 0.5 · ln2 / 2.
  auto l = weighted_cross_entropy(logits, labels, kept_share_weight(labels));
  EXPECT_NEAR(l.item<double>(), 0.5 * std::log(2.0) / 2, 1e-6);
  // KL(target ‖ uniform) for target (1, 0) = ln 2; the invalid pixel does not count.
  // (B, C, H, W) = (1, 2, 1, 2): pixel 0 → (1, 0), pixel 1 → (0.5, 0.5).
  auto target = torch::tensor({1.0f, 0.5f, 0.0f, 0.5f}).view({1, 2, 1, 2});
  auto valid = torch::tensor({true, false}).view({1, 1, 2});
  EXPECT_NEAR(soft_distillation_loss(logits, target, valid, 1.0).item<double>(), std::log(2.0), 1e-6);
}

TEST(Losses, ClassBalanceWeightsFavourRareClassesAtMeanOne) {
  // Shares 0.75 / 0.25 / 0: w ∝ share^-1 = 4/3, 4, (none) → scaled so 0.75·w0 + 0.25·w1 = 1.
  const auto w = class_balance_weights({3, 1, 0}, 1.0);
  EXPECT_NEAR(w[0].item<double>(), 2.0 / 3, 1e-6);
  EXPECT_NEAR(w[1].item<double>(), 2.0, 1e-6);
  EXPECT_EQ(w[2].item<double>(), 0.0);
  // Power 0 is no balancing.
  const auto flat = class_balance_weights({3, 1}, 0.0);
  EXPECT_NEAR(flat[0].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(flat[1].item<double>(), 1.0, 1e-6);
}
