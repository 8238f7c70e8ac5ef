#include "data/transforms.h"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/label_space.h"

using namespace segtransfer;

namespace {

// Labels constant on 12×12 blocks, each block its own id (never ignore); the image
// encodes the label in every channel: B = label, G = 255 − label, R = label.
void block_pair(cv::Size size, cv::Mat& image, cv::Mat& label) {
  label.create(size, CV_8UC1);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) label.at<uint8_t>(y, x) = static_cast<uint8_t>(((y / 12) * 17 + x / 12) % 250);
  cv::Mat inverted = 255 - label;
  cv::merge(std::vector<cv::Mat>{label, inverted, label}, image);
}

// Pixels whose 5×5 neighbourhood has one label: there bilinear and nearest
// resizing both reproduce the block value exactly. The 2-pixel frame is left out
// (its neighbourhood was cut off by the crop).
cv::Mat block_interior(const cv::Mat& label) {
  cv::Mat lo, hi;
  const cv::Mat kernel = cv::Mat::ones(5, 5, CV_8U);
  cv::erode(label, lo, kernel, {-1, -1}, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::dilate(label, hi, kernel, {-1, -1}, 1, cv::BORDER_CONSTANT, cv::Scalar(255));
  return lo == hi & label != kIgnoreIndex;
}

cv::Mat noise_image(cv::Size size, int seed) {
  cv::Mat image(size, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(image, cv::RNG::UNIFORM, 0, 256);
  return image;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

}  // namespace

TEST(Transforms, ScaleCropFlipKeepImageAndLabelAligned) {
  AugmentSpec spec;
  spec.scale_range = {0.75, 2.0};
  spec.crop = {48, 40};
  spec.cat_max_ratio = 0.75;
  spec.hflip = 0.5;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    cv::Mat image, label;
    block_pair({96, 72}, image, label);
    Rng rng(seed);
    augment(image, label, spec, rng);
    ASSERT_EQ(image.size(), cv::Size(48, 40));
    ASSERT_EQ(label.size(), cv::Size(48, 40));
    const cv::Mat interior = block_interior(label);
    ASSERT_GT(cv::countNonZero(interior), 48 * 40 / 7) << "seed " << seed;
    std::vector<cv::Mat> channels;
    cv::split(image, channels);
    cv::Mat inverted = 255 - label;
    EXPECT_EQ(cv::countNonZero((channels[0] != label) & interior), 0) << "seed " << seed;
    EXPECT_EQ(cv::countNonZero((channels[1] != inverted) & interior), 0) << "seed " << seed;
    EXPECT_EQ(cv::countNonZero((channels[2] != label) & interior), 0) << "seed " << seed;
  }
}

TEST(Transforms, CropAndFlipKeepEveryPixelAligned) {
  // A label that differs between neighbours, so a one-pixel shift shows.
  cv::Mat base_label(40, 60, CV_8UC1);
  for (int y = 0; y < base_label.rows; ++y)
    for (int x = 0; x < base_label.cols; ++x)
      base_label.at<uint8_t>(y, x) = static_cast<uint8_t>((3 * x + 5 * y) % 251);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    cv::Mat label = base_label.clone(), image;
    cv::merge(std::vector<cv::Mat>{label, label, label}, image);
    Rng rng(seed);
    random_crop(image, label, {24, 16}, 0.5, rng);
    random_hflip(image, label, 0.5, rng);
    std::vector<cv::Mat> channels;
    cv::split(image, channels);
    ASSERT_TRUE(same(channels[0], label)) << "seed " << seed;
  }
}

TEST(Transforms, CropLargerThanImagePadsWithZeroAndIgnore) {
  cv::Mat image, label;
  block_pair({20, 10}, image, label);
  const cv::Mat original_image = image.clone(), original_label = label.clone();
  Rng rng(3);
  random_crop(image, label, {32, 16}, 1.0, rng);
  ASSERT_EQ(image.size(), cv::Size(32, 16));
  ASSERT_EQ(label.size(), cv::Size(32, 16));
  const cv::Rect kept(0, 0, 20, 10);
  EXPECT_TRUE(same(image(kept), original_image));
  EXPECT_TRUE(same(label(kept), original_label));
  cv::Mat padding = cv::Mat::ones(16, 32, CV_8U);
  padding(kept).setTo(0);
  EXPECT_EQ(cv::countNonZero((label != kIgnoreIndex) & padding), 0);
  cv::Mat gray;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  EXPECT_EQ(cv::countNonZero(gray & padding), 0);
}

TEST(Transforms, CropPadsOnlyTheShortSide) {
  cv::Mat image, label;
  block_pair({40, 10}, image, label);
  Rng rng(5);
  random_crop(image, label, {32, 16}, 1.0, rng);
  ASSERT_EQ(label.size(), cv::Size(32, 16));
  EXPECT_EQ(cv::countNonZero(label.rowRange(10, 16) != kIgnoreIndex), 0);
  EXPECT_EQ(cv::countNonZero(label.rowRange(0, 10) == kIgnoreIndex), 0);
}

TEST(Transforms, CropOfUnlabelledImageLeavesLabelEmpty) {
  cv::Mat image = noise_image({50, 30}, 1), label;
  Rng rng(1);
  random_crop(image, label, {16, 16}, 0.5, rng);
  EXPECT_EQ(image.size(), cv::Size(16, 16));
  EXPECT_TRUE(label.empty());
}

TEST(Transforms, CatMaxRatioAvoidsCropsDominatedByOneClass) {
  // Class 0 everywhere except a 6-column band of class 1 (90.6% vs 9.4%), and an
  // ignore region that must not count as a class.
  cv::Mat base_label(64, 64, CV_8UC1, cv::Scalar(0));
  base_label.colRange(29, 35).setTo(1);
  base_label.rowRange(0, 8).setTo(kIgnoreIndex);
  auto balanced_share = [&](double cat_max_ratio) {
    int balanced = 0;
    const int trials = 200;
    for (int seed = 0; seed < trials; ++seed) {
      cv::Mat image = cv::Mat::zeros(64, 64, CV_8UC3), label = base_label.clone();
      Rng rng(seed);
      random_crop(image, label, {16, 16}, cat_max_ratio, rng);
      const int labelled = cv::countNonZero(label != kIgnoreIndex);
      const int ones = cv::countNonZero(label == 1);
      if (ones > 0 && (labelled - ones) < 0.75 * labelled) ++balanced;
    }
    return static_cast<double>(balanced) / trials;
  };
  EXPECT_LT(balanced_share(1.0), 0.5);
  EXPECT_GT(balanced_share(0.75), 0.85);
}

TEST(Transforms, FlipFlipsImageAndLabelTogether) {
  cv::Mat image, label;
  block_pair({30, 12}, image, label);
  const cv::Mat original_image = image.clone(), original_label = label.clone();
  Rng rng(0);
  random_hflip(image, label, 1.0, rng);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 30; ++x) {
      ASSERT_EQ(label.at<uint8_t>(y, x), original_label.at<uint8_t>(y, 29 - x));
      ASSERT_EQ(image.at<cv::Vec3b>(y, x), original_image.at<cv::Vec3b>(y, 29 - x));
    }
  random_hflip(image, label, 0.0, rng);
  EXPECT_EQ(label.at<uint8_t>(0, 0), original_label.at<uint8_t>(0, 29));
}

TEST(Transforms, JitterAndBlurChangeOnlyTheImageAndAreDeterministic) {
  AugmentSpec spec;
  spec.hflip = 0;
  spec.jitter_strength = 0.4;
  spec.jitter_p = 1.0;
  spec.blur_p = 1.0;
  cv::Mat base_image, base_label;
  block_pair({64, 48}, base_image, base_label);
  auto run = [&](uint64_t seed, cv::Mat& image, cv::Mat& label) {
    image = base_image.clone();
    label = base_label.clone();
    Rng rng(seed);
    augment(image, label, spec, rng);
  };
  cv::Mat a_image, a_label, b_image, b_label, c_image, c_label;
  run(11, a_image, a_label);
  run(11, b_image, b_label);
  run(12, c_image, c_label);
  EXPECT_TRUE(same(a_label, base_label));
  EXPECT_TRUE(same(c_label, base_label));
  EXPECT_TRUE(same(a_image, b_image));
  EXPECT_FALSE(same(a_image, base_image));
  EXPECT_FALSE(same(a_image, c_image));
}

TEST(Transforms, JitterWithZeroProbabilityOrStrengthIsIdentity) {
  const cv::Mat base = noise_image({32, 16}, 2);
  cv::Mat image = base.clone();
  Rng rng(0);
  colour_jitter(image, 0.5, 0.0, rng);
  colour_jitter(image, 0.0, 1.0, rng);
  gaussian_blur(image, 0.0, rng);
  EXPECT_TRUE(same(image, base));
}

TEST(Transforms, BlurSmoothsNoise) {
  const cv::Mat base = noise_image({64, 64}, 3);
  cv::Mat image = base.clone();
  Rng rng(4);
  gaussian_blur(image, 1.0, rng);
  cv::Scalar mean, before, after;
  cv::meanStdDev(base, mean, before);
  cv::meanStdDev(image, mean, after);
  EXPECT_LT(after[0], 0.8 * before[0]);
}

TEST(Transforms, ResizePairUsesNearestForLabels) {
  cv::Mat image, label;
  block_pair({36, 24}, image, label);
  std::vector<uint8_t> ids(label.begin<uint8_t>(), label.end<uint8_t>());
  resize_pair(image, label, {50, 17});
  ASSERT_EQ(image.size(), cv::Size(50, 17));
  ASSERT_EQ(label.size(), cv::Size(50, 17));
  for (auto it = label.begin<uint8_t>(); it != label.end<uint8_t>(); ++it)
    ASSERT_NE(std::find(ids.begin(), ids.end(), *it), ids.end()) << "interpolated label " << int(*it);
}

TEST(Transforms, BadSpecsAreErrors) {
  cv::Mat image = noise_image({16, 16}, 0), label(8, 8, CV_8UC1, cv::Scalar(0));
  Rng rng(0);
  EXPECT_THROW(augment(image, label, AugmentSpec{}, rng), Error);
  cv::Mat no_label;
  EXPECT_THROW(random_scale(image, no_label, {2.0, 1.0}, rng), Error);
  EXPECT_THROW(random_crop(image, no_label, {0, 4}, 1.0, rng), Error);
}
