#include "data/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::TempDir;

namespace {

constexpr int kClasses = 4;

LabelSpace tiny_space() {
  return LabelSpace{"tiny", {"a", "b", "c", "d"}, {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}}};
}

// `count` noise images of `size` with labels of classes 0..3 and some ignore.
std::vector<SampleFiles> write_samples(const TempDir& dir, int count, cv::Size size, bool labels = true) {
  std::vector<SampleFiles> files;
  cv::RNG rng(42);
  for (int i = 0; i < count; ++i) {
    const std::string stem = "s" + std::to_string(i);
    cv::Mat image(size, CV_8UC3), label(size, CV_8UC1);
    rng.fill(image, cv::RNG::UNIFORM, 0, 256);
    rng.fill(label, cv::RNG::UNIFORM, 0, kClasses);
    label(cv::Rect(0, 0, size.width / 4, size.height / 4)).setTo(kIgnoreIndex);
    SampleFiles f{(dir / (stem + ".png")).string(), "", stem};
    cv::imwrite(f.image, image);
    if (labels) {
      f.label = (dir / (stem + "_label.png")).string();
      cv::imwrite(f.label, label);
    }
    files.push_back(f);
  }
  return files;
}

std::shared_ptr<const SegDataset> make_dataset(std::vector<SampleFiles> files) {
  return std::make_shared<SegDataset>("tiny", std::move(files), tiny_space(), IdMap::identity(kClasses));
}

LoaderOptions augmenting_options(int workers) {
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = workers;
  o.prefetch = 3;
  o.seed = 7;
  o.augment.scale_range = {0.75, 1.5};
  o.augment.crop = {32, 16};
  o.augment.cat_max_ratio = 0.75;
  o.augment.hflip = 0.5;
  o.augment.jitter_strength = 0.3;
  o.augment.jitter_p = 0.5;
  o.augment.blur_p = 0.5;
  return o;
}

void expect_same_batch(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.stems, b.stems);
  EXPECT_TRUE(torch::equal(a.image, b.image)) << "batch " << a.number;
  EXPECT_TRUE(torch::equal(a.label, b.label)) << "batch " << a.number;
}

}  // namespace

TEST(Loader, ImageToTensorIsNormalisedRgb) {
  cv::Mat bgr(2, 3, CV_8UC3, cv::Scalar(10, 20, 30));
  bgr.at<cv::Vec3b>(1, 2) = {200, 100, 0};
  const std::array<double, 3> mean{1, 2, 3}, std{2, 4, 8};
  torch::Tensor t = image_to_tensor(bgr, mean, std);
  ASSERT_EQ(t.sizes(), (torch::IntArrayRef{3, 2, 3}));
  EXPECT_EQ(t.dtype(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), (30 - 1) / 2.0f);  // R
  EXPECT_FLOAT_EQ(t[1][0][0].item<float>(), (20 - 2) / 4.0f);  // G
  EXPECT_FLOAT_EQ(t[2][0][0].item<float>(), (10 - 3) / 8.0f);  // B
  EXPECT_FLOAT_EQ(t[0][1][2].item<float>(), (0 - 1) / 2.0f);
  EXPECT_FLOAT_EQ(t[2][1][2].item<float>(), (200 - 3) / 8.0f);
}

TEST(Loader, LabelToTensorIsInt64) {
  cv::Mat label(3, 5, CV_8UC1, cv::Scalar(2));
  label.at<uint8_t>(2, 4) = kIgnoreIndex;
  torch::Tensor t = label_to_tensor(label.colRange(1, 5));  // a non-contiguous view
  ASSERT_EQ(t.sizes(), (torch::IntArrayRef{3, 4}));
  EXPECT_EQ(t.dtype(), torch::kInt64);
  EXPECT_EQ(t[0][0].item<int64_t>(), 2);
  EXPECT_EQ(t[2][3].item<int64_t>(), kIgnoreIndex);
}

TEST(Loader, BatchesDoNotDependOnWorkerCount) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  std::vector<Batch> reference;
  for (int64_t k = 0; k < 6; ++k) reference.push_back(DataLoader::make_batch(*dataset, augmenting_options(0), k));
  for (int workers : {0, 1, 3}) {
    DataLoader loader(dataset, augmenting_options(workers));
    for (int64_t k = 0; k < 6; ++k) {
      Batch batch = loader.next();
      ASSERT_EQ(batch.image.sizes(), (torch::IntArrayRef{4, 3, 16, 32}));
      ASSERT_EQ(batch.label.sizes(), (torch::IntArrayRef{4, 16, 32}));
      expect_same_batch(batch, reference[k]);
    }
  }
}

TEST(Loader, EachEpochIsAPermutationAndEpochsDiffer) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  LoaderOptions options = augmenting_options(0);
  options.batch_size = 4;  // 6 samples: batch 1 spans epochs 0 and 1
  std::vector<size_t> sequence;
  for (int64_t k = 0; k < 3; ++k)
    for (size_t index : DataLoader::make_batch(*dataset, options, k).indices) sequence.push_back(index);
  std::vector<size_t> epoch0(sequence.begin(), sequence.begin() + 6), epoch1(sequence.begin() + 6, sequence.end());
  EXPECT_NE(epoch0, epoch1);
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  EXPECT_EQ(epoch0, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(epoch1, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));

  options.shuffle = false;
  EXPECT_EQ(DataLoader::make_batch(*dataset, options, 1).indices, (std::vector<size_t>{4, 5, 0, 1}));
  options.shuffle = true;
  options.seed = 8;
  EXPECT_NE(DataLoader::make_batch(*dataset, options, 0).indices,
            std::vector<size_t>(sequence.begin(), sequence.begin() + 4));
}

TEST(Loader, ShardsTogetherAreTheBatchOfOneProcess) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  LoaderOptions whole = augmenting_options(0), share = augmenting_options(0);
  whole.batch_size = 4;
  share.batch_size = 2;
  share.shards = 2;
  for (int64_t k = 0; k < 3; ++k) {
    const Batch all = DataLoader::make_batch(*dataset, whole, k);
    share.shard = 0;
    const Batch first = DataLoader::make_batch(*dataset, share, k);
    share.shard = 1;
    const Batch second = DataLoader::make_batch(*dataset, share, k);
    EXPECT_TRUE(torch::equal(torch::cat({first.image, second.image}), all.image));
    EXPECT_TRUE(torch::equal(torch::cat({first.label, second.label}), all.label));
  }
  share.shard = 2;
  EXPECT_TRUE(segtransfer::testing::contains(
      segtransfer::testing::error_of([&] { DataLoader::make_batch(*dataset, share, 0); }), "shard 2 of 2"));
}

TEST(Loader, ResumingAtABatchGivesThatBatch) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  DataLoader from_start(dataset, augmenting_options(2));
  Batch third;
  for (int k = 0; k <= 3; ++k) third = from_start.next();
  DataLoader resumed(dataset, augmenting_options(2), 3);
  Batch first_of_resumed = resumed.next();
  EXPECT_EQ(first_of_resumed.number, 3);
  expect_same_batch(first_of_resumed, third);
}

TEST(Loader, UnlabelledDatasetGivesNoLabels) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 3, {40, 24}, false));
  DataLoader loader(dataset, augmenting_options(1));
  Batch batch = loader.next();
  EXPECT_TRUE(batch.image.defined());
  EXPECT_FALSE(batch.label.defined());
}

TEST(Loader, UnreadableImageIsAnErrorNamingTheFile) {
  TempDir dir;
  std::vector<SampleFiles> files = write_samples(dir, 5, {40, 24});
  files[3].image = (dir / "broken.png").string();
  std::ofstream(files[3].image) << "not a png";
  auto dataset = make_dataset(files);
  for (int workers : {0, 2}) {
    LoaderOptions options = augmenting_options(workers);
    options.batch_size = 2;
    DataLoader loader(dataset, options);
    bool thrown = false;
    for (int k = 0; k < 4 && !thrown; ++k) {  // every sample is read within 3 batches
      try {
        loader.next();
      } catch (const Error& e) {
        thrown = true;
        EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
      }
    }
    EXPECT_TRUE(thrown) << "workers " << workers;
    EXPECT_THROW(loader.next(), Error);  // and stays failed
  }
}

TEST(Loader, SamplesOfDifferentSizesWithoutCropAreAnError) {
  TempDir dir, other_dir;
  std::vector<SampleFiles> files = write_samples(dir, 1, {40, 24});
  files.push_back(write_samples(other_dir, 1, {20, 24}).front());
  LoaderOptions options;
  options.batch_size = 2;
  options.shuffle = false;
  EXPECT_THROW(DataLoader::make_batch(*make_dataset(files), options, 0), Error);
}

TEST(Loader, EmptyDatasetIsAnError) { EXPECT_THROW(DataLoader(make_dataset({}), augmenting_options(1)), Error); }

TEST(Loader, DestroyingWithoutDrainingDoesNotHang) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  const auto start = std::chrono::steady_clock::now();
  { DataLoader untouched(dataset, augmenting_options(3)); }
  {
    DataLoader partly_drained(dataset, augmenting_options(3));
    partly_drained.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the workers fill the queue
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

TEST(Loader, WaitTimeIsMeasuredAndReset) {
  TempDir dir;
  auto dataset = make_dataset(write_samples(dir, 6, {40, 24}));
  for (int workers : {0, 2}) {
    DataLoader loader(dataset, augmenting_options(workers));
    for (int k = 0; k < 3; ++k) loader.next();
    const double waited = loader.take_wait_seconds();
    EXPECT_GE(waited, 0.0);
    if (workers == 0) EXPECT_GT(waited, 0.0);  // building the batches is the wait
    EXPECT_EQ(loader.take_wait_seconds(), 0.0);
  }
}
