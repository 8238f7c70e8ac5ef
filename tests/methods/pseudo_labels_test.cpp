#include "methods/common/pseudo_labels.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace segtransfer;

namespace {

// One row of pixels with the given (top-1 class, q1, q2) answers, k = 2, 3 classes.
StoredPrediction row_of(const std::vector<std::array<int, 3>>& pixels) {
  StoredPrediction p;
  p.k = 2;
  p.classes = cv::Mat(1, static_cast<int>(pixels.size()), CV_8UC2);
  p.probabilities = cv::Mat(1, static_cast<int>(pixels.size()), CV_8UC2);
  for (size_t i = 0; i < pixels.size(); ++i) {
    const auto [c, q1, q2] = pixels[i];
    p.classes.at<cv::Vec2b>(0, static_cast<int>(i)) = cv::Vec2b(c, (c + 1) % 3);
    p.probabilities.at<cv::Vec2b>(0, static_cast<int>(i)) = cv::Vec2b(q1, q2);
  }
  return p;
}

}  // namespace

TEST(ConfidenceHistogram, PerClassThresholdsByHand) {
  // class 0: relative confidences 150 and 20 (/255); class 1: 255 and 1; class 2 never wins.
  const auto p = row_of({{0, 200, 50}, {0, 100, 80}, {1, 255, 0}, {1, 128, 127}});
  cv::Mat truth = (cv::Mat_<uint8_t>(1, 4) << 0, 1, 1, 1);
  ConfidenceHistogram relative(3, Confidence::kRelative);
  relative.add(p, truth);
  const auto mean = relative.class_thresholds(ThresholdStatistic::kMean, 0);
  EXPECT_NEAR(mean[0], 85.0 / 255, 1e-9);
  EXPECT_NEAR(mean[1], 128.0 / 255, 1e-9);
  EXPECT_EQ(mean[2], 0.0);
  const auto median = relative.class_thresholds(ThresholdStatistic::kPercentile, 50);
  EXPECT_NEAR(median[0], 20.0 / 255, 1e-9);
  EXPECT_NEAR(median[1], 1.0 / 255, 1e-9);
  EXPECT_NEAR(relative.pooled_threshold(ThresholdStatistic::kMean, 0), (150 + 20 + 255 + 1) / 4.0 / 255, 1e-9);

  // Mean thresholds keep pixels 0 and 2: both right; over all pixels 3 of 4 are right.
  const auto a = relative.audit(mean);
  EXPECT_EQ(a.kept, 2);
  EXPECT_EQ(a.kept_correct, 2);
  EXPECT_EQ(a.all_correct, 3);
  EXPECT_EQ(a.class_kept[0], 1);

  ConfidenceHistogram absolute(3, Confidence::kAbsolute);
  absolute.add(p, truth);
  EXPECT_NEAR(absolute.class_thresholds(ThresholdStatistic::kMean, 0)[0], 150.0 / 255, 1e-9);
  // Keeping half of the pixels by max probability: 255 and 200 pass, the threshold is 200.
  EXPECT_NEAR(absolute.global_threshold_keeping(0.5), 200.0 / 255, 1e-9);
}

TEST(PseudoLabels, FilterKeepsTheConfidentPixelsOfEachClass) {
  auto top1 = torch::tensor({0, 0, 1, 1, 255}).view({1, 1, 5});
  auto conf = torch::tensor({150, 20, 255, 1, 0}, torch::kFloat32).view({1, 1, 5}) / 255;
  auto tau = torch::tensor({85.0f / 255, 128.0f / 255, 0.0f});
  auto labels = filter_by_threshold(top1, conf, tau);
  EXPECT_TRUE(torch::equal(labels, torch::tensor({0, 255, 1, 255, 255}).view({1, 1, 5})));
}

TEST(PseudoLabels, TopKDistributionSpreadsTheRestEvenly) {
  // k = 2 of 4 classes: p = (0.6 on class 2, 0.3 on class 0) → 0.05 each on classes 1 and 3.
  auto aux = torch::tensor({2, 0, 153, 77}, torch::kUInt8).view({1, 4, 1, 1});
  auto d = top_k_distribution(decode_top_k(aux), 4).flatten();
  EXPECT_NEAR(d[2].item<double>(), 0.6, 1e-6);
  EXPECT_NEAR(d[0].item<double>(), 77.0 / 255, 1e-6);
  EXPECT_NEAR(d[1].item<double>(), d[3].item<double>(), 1e-7);
  EXPECT_NEAR(d.sum().item<double>(), 1.0, 1e-6);
  // An ignored pixel has no distribution.
  auto ignored = torch::tensor({255, 255, 0, 0}, torch::kUInt8).view({1, 4, 1, 1});
  EXPECT_EQ(top_k_distribution(decode_top_k(ignored), 4).sum().item<double>(), 0.0);
}
