#include "data/rare_class_sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;

namespace {

// Image i shows only class i, with 900, 90 and 10 pixels: f = (0.9, 0.09, 0.01).
ClassStatistics three_images() {
  ClassStatistics s;
  s.num_classes = 3;
  s.pixels = {{900, 0, 0}, {0, 90, 0}, {0, 0, 10}};
  return s;
}

// Label maps of one class each: image i is all class (i % 3) and 8x4.
std::shared_ptr<SegDataset> dataset_of(const TempDir& dir, int count) {
  std::vector<SampleFiles> files;
  for (int i = 0; i < count; ++i) {
    SampleFiles f{(dir / fmt::format("i{}.png", i)).string(), (dir / fmt::format("l{}.png", i)).string(),
                  fmt::format("i{}", i)};
    cv::imwrite(f.image, cv::Mat(4, 8, CV_8UC3, cv::Scalar(i, i, i)));
    cv::imwrite(f.label, cv::Mat(4, 8, CV_8UC1, cv::Scalar(i % 3)));
    files.push_back(f);
  }
  return std::make_shared<SegDataset>("one class each", files, LabelSpace{"abc", {"a", "b", "c"}, {{}, {}, {}}},
                                      IdMap::identity(3));
}

}  // namespace

TEST(RareClassSampling, ClassProbabilitiesByHand) {
  const auto f = three_images().frequencies();
  EXPECT_NEAR(f[0], 0.9, 1e-12);
  EXPECT_NEAR(f[2], 0.01, 1e-12);
  RareClassSampler sampler(three_images(), /*temperature=*/0.1, /*min_pixels=*/1);
  // p ∝ exp((1 − f) / T) = e^1, e^9.1, e^9.9.
  const double z = std::exp(1.0) + std::exp(9.1) + std::exp(9.9);
  EXPECT_NEAR(sampler.class_probabilities()[0], std::exp(1.0) / z, 1e-9);
  EXPECT_NEAR(sampler.class_probabilities()[2], std::exp(9.9) / z, 1e-9);
  // Drawn often, image 2 (the rarest class) comes up in about its share.
  std::mt19937_64 rng(3);
  int rare = 0;
  for (int i = 0; i < 20000; ++i) rare += sampler.pick(rng) == 2;
  EXPECT_NEAR(rare / 20000.0, std::exp(9.9) / z, 0.02);
}

TEST(RareClassSampling, MinPixelsExcludesImagesAndNamesTheFix) {
  RareClassSampler sampler(three_images(), 0.1, /*min_pixels=*/50);  // image 2 (10 pixels) no longer counts
  EXPECT_EQ(sampler.class_probabilities()[2], 0.0);
  EXPECT_TRUE(contains(error_of([] { RareClassSampler(three_images(), 0.1, 5000); }), "min_pixels"));
  EXPECT_TRUE(contains(error_of([] { RareClassSampler(three_images(), 0.0, 1); }), "temperature"));
}

TEST(RareClassSampling, StatisticsAreCachedPerDataset) {
  TempDir dir;
  auto dataset = dataset_of(dir, 6);
  const std::string cache = class_statistics_cache_path(*dataset, (dir / "cache").string());
  const ClassStatistics counted = class_statistics(*dataset, cache);
  ASSERT_EQ(counted.pixels.size(), 6u);
  EXPECT_EQ(counted.pixels[4], (std::vector<int64_t>{0, 32, 0}));
  ASSERT_TRUE(std::filesystem::exists(cache));
  // The cached counts are what the next run reads (a doctored cache proves it).
  auto doctored = read_text_file(cache);
  for (size_t at; (at = doctored.find("[0,32,0]")) != std::string::npos;) doctored.replace(at, 8, "[0,31,0]");
  write_text_atomically(cache, doctored);
  EXPECT_EQ(class_statistics(*dataset, cache).pixels[4][1], 31);
  // Another dataset gets another cache file.
  EXPECT_NE(class_statistics_cache_path(*dataset_of(dir, 5), (dir / "cache").string()), cache);
}

TEST(RareClassSampling, LoaderDrawsByClassAndStaysDeterministic) {
  TempDir dir;
  auto dataset = dataset_of(dir, 9);
  LoaderOptions o;
  o.batch_size = 3;
  o.workers = 2;
  o.seed = 11;
  o.sampler = std::make_shared<RareClassSampler>(class_statistics(*dataset, ""), 0.01, 1);
  // Every class covers a third of the pixels: sampling is uniform over classes, images of each class.
  const Batch a = DataLoader::make_batch(*dataset, o, 5), b = DataLoader::make_batch(*dataset, o, 5);
  EXPECT_EQ(a.indices, b.indices);
  DataLoader loader(dataset, o, 0);
  std::vector<int> per_class(3, 0);
  for (int k = 0; k < 200; ++k)
    for (size_t i : loader.next().indices) ++per_class[i % 3];
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(per_class[c] / 600.0, 1.0 / 3, 0.07) << c;
}
