#include "teachers/answer_statistics.h"

#include <gtest/gtest.h>

#include <random>

#include "core/atomic_file.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;

namespace {

// Images a, b, c (8x4) and a 3-class store answering them:
//   a: top-2 answer, rows 0-1 class 0, row 2 class 1, row 3 ignore; second choice class 2 everywhere;
//   b: label-only, class 0 but 3 pixels of class 2 and 3 ignored;
//   c: label-only, all class 0.
// Top-1 counts: a {16, 8, 0}, b {26, 0, 3}, c {32, 0, 0}.
SegDataset hand_made(const PredictionStore& store) {
  StoredPrediction a;
  a.k = 2;
  std::vector<cv::Mat> classes{cv::Mat(4, 8, CV_8UC1, cv::Scalar(0)), cv::Mat(4, 8, CV_8UC1, cv::Scalar(2))};
  classes[0].row(2).setTo(1);
  classes[0].row(3).setTo(kIgnoreIndex);
  cv::merge(classes, a.classes);
  a.probabilities = cv::Mat(4, 8, CV_8UC2, cv::Scalar(200, 40));
  write_text_atomically(store.entry_path("a"), encode_store_entry(a, 3));

  TeacherAnswer b;
  b.labels = cv::Mat(4, 8, CV_8UC1, cv::Scalar(0));
  b.labels(cv::Rect(0, 0, 3, 1)).setTo(2);
  b.labels(cv::Rect(0, 3, 3, 1)).setTo(kIgnoreIndex);
  store.put("b", b);
  TeacherAnswer c;
  c.labels = cv::Mat(4, 8, CV_8UC1, cv::Scalar(0));
  store.put("c", c);

  std::vector<SampleFiles> files;
  for (const char* stem : {"a", "b", "c"}) files.push_back({std::string(stem) + ".png", "", stem});
  return SegDataset("hand-made", files, LabelSpace{"abc", {"x", "y", "z"}, {{}, {}, {}}}, IdMap::identity(3));
}

}  // namespace

TEST(AnswerStatistics, CountsTheTopClassSkippingIgnoreForBothKindsOfAnswer) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 3, "hand"});
  const SegDataset images = hand_made(store);
  const ClassStatistics stats = answer_class_statistics(store, images);
  EXPECT_EQ(stats.num_classes, 3);
  const std::vector<std::vector<int64_t>> expected{{16, 8, 0}, {26, 0, 3}, {32, 0, 0}};
  EXPECT_EQ(stats.pixels, expected);
}

TEST(AnswerStatistics, SamplerDrawsTheImageWhereTheBlackBoxSeesTheRareClass) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 3, "hand"});
  const SegDataset images = hand_made(store);
  // f = (74, 8, 3) / 85: class 2 (only in b) is drawn most, class 0 almost never.
  const RareClassSampler sampler(answer_class_statistics(store, images), 0.1, 1);
  std::mt19937_64 rng(3);
  std::vector<int> drawn(3, 0);
  for (int i = 0; i < 2000; ++i) ++drawn[sampler.pick(rng)];
  EXPECT_GT(drawn[1], 1000) << drawn[0] << " " << drawn[1] << " " << drawn[2];
  EXPECT_GT(drawn[0], 500);
  EXPECT_LT(drawn[2], 20);
}

TEST(AnswerStatistics, AMissingAnswerNamesTheImage) {
  TempDir dir;
  const auto store = PredictionStore::open_for_writing(dir.str(), {2, 3, "hand"});
  std::vector<SampleFiles> files{{"q.png", "", "q"}};
  const SegDataset images("one", files, LabelSpace{"abc", {"x", "y", "z"}, {{}, {}, {}}}, IdMap::identity(3));
  EXPECT_TRUE(contains(error_of([&] { answer_class_statistics(store, images); }), "'q'"));
}
