#include "data/image_selection.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;

TEST(ImageSelection, EmbeddingIsAUnitVectorThatTellsScenesApart) {
  cv::Mat sky(48, 64, CV_8UC3, cv::Scalar(200, 120, 60)), road(48, 64, CV_8UC3, cv::Scalar(90, 90, 90));
  road.rowRange(0, 20).setTo(cv::Scalar(200, 120, 60));
  const cv::Mat a = image_embedding(sky), b = image_embedding(road);
  EXPECT_EQ(a.cols, 96);
  EXPECT_NEAR(cv::norm(a), 1.0, 1e-5);
  EXPECT_EQ(cv::norm(a, image_embedding(sky.clone())), 0.0);
  EXPECT_GT(cv::norm(a, b), 0.2);
  EXPECT_THROW(image_embedding(cv::Mat(4, 4, CV_8UC1)), Error);
}

// Three groups of near-duplicates (video frames of three scenes): k-centre takes one
// of each for every seed; it never takes a row twice, and a seed decides the result.
TEST(ImageSelection, KCenterSpreadsOverTheGroups) {
  cv::Mat points(12, 2, CV_32F);
  for (int i = 0; i < 12; ++i) {
    const float jitter = 0.01f * static_cast<float>(i % 5);
    const cv::Point2f centre = i < 5 ? cv::Point2f(1, 0) : i < 10 ? cv::Point2f(0, 1) : cv::Point2f(-1, 0);
    points.at<float>(i, 0) = centre.x + jitter;
    points.at<float>(i, 1) = centre.y - jitter;
  }
  auto group = [](int64_t i) { return i < 5 ? 0 : i < 10 ? 1 : 2; };
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const auto chosen = select_images(points, 3, SelectionMethod::kKCenter, seed);
    ASSERT_EQ(chosen.size(), 3u);
    std::set<int> groups;
    for (auto i : chosen) groups.insert(group(i));
    EXPECT_EQ(groups.size(), 3u) << "seed " << seed;
    EXPECT_EQ(chosen, select_images(points, 3, SelectionMethod::kKCenter, seed));
  }
  // Covering: with one of each group every point is within the group's jitter of a chosen one.
  EXPECT_LT(coverage_distances(points, select_images(points, 3, SelectionMethod::kKCenter, 0)).first, 0.06);
  EXPECT_EQ(coverage_distances(points, select_images(points, 12, SelectionMethod::kKCenter, 0)).second, 0.0);
  const auto all = select_images(points, 12, SelectionMethod::kKCenter, 1);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 12u);  // every row once
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST(ImageSelection, RandomIsDistinctAndSeeded) {
  cv::Mat points = cv::Mat::eye(20, 20, CV_32F);
  std::set<std::vector<int64_t>> draws;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const auto chosen = select_images(points, 6, SelectionMethod::kRandom, seed);
    EXPECT_EQ(std::set<int64_t>(chosen.begin(), chosen.end()).size(), 6u);
    EXPECT_EQ(chosen, select_images(points, 6, SelectionMethod::kRandom, seed));
    draws.insert(chosen);
  }
  EXPECT_GT(draws.size(), 1u);
  EXPECT_THROW(select_images(points, 0, SelectionMethod::kRandom, 0), Error);
  EXPECT_THROW(select_images(points, 21, SelectionMethod::kKCenter, 0), Error);
}
