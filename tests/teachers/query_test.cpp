#include "teachers/query.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>

#include "core/atomic_file.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// A source model that counts how often each image is asked, answers a
// deterministic function of the image, and becomes unreachable after `limit` asks.
class CountingTeacher : public Teacher {
 public:
  explicit CountingTeacher(int64_t limit) : Teacher(4), limit_(limit) {}
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (requests_ >= limit_) throw TeacherUnavailable("query budget used up before image " + stem);
    ++requests_;
    ++asked[stem];
    TeacherAnswer a;
    a.probabilities =
        torch::softmax(torch::full({4, bgr.rows, bgr.cols}, 0.0).index_put_({bgr.at<uint8_t>(0) % 4}, 2.0), 0);
    return a;
  }
  int max_concurrency() const override { return 3; }
  std::string describe() const override { return "counting"; }
  std::map<std::string, int> asked;

 private:
  int64_t limit_;
  std::mutex mutex_;
};

std::shared_ptr<SegDataset> folder_of_images(const fs::path& root, int n) {
  fs::create_directories(root / "images");
  for (int i = 0; i < n; ++i)
    cv::imwrite((root / "images" / fmt::format("im{:02d}.png", i)).string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(i)));
  DatasetSpec spec;
  spec.type = "folder";
  spec.root = root.string();
  spec.labels = false;
  spec.label_space = "camvid11";
  return open_dataset(spec);
}

}  // namespace

TEST(Query, AnInterruptedQueryResumesWithoutAskingTwice) {
  TempDir dir;
  auto images = folder_of_images(dir / "data", 20);
  const auto store = PredictionStore::open_for_writing((dir / "store").string(), {2, 4, "counting"});

  CountingTeacher first(7);  // the source model goes away after 7 answers
  EXPECT_THROW(run_query(first, *images, store), TeacherUnavailable);
  // What a kill leaves behind: a temporary file and a torn entry.
  write_text_atomically(dir / "store" / "im19.topk", "STPK-torn");
  { std::ofstream(dir / "store" / "im18.topk.tmp.123") << "partial"; }

  CountingTeacher second(1000);
  const QueryReport r =
      run_query(second, *images, PredictionStore::open_for_writing((dir / "store").string(), {2, 4, "counting"}));
  EXPECT_FALSE(fs::exists(dir / "store" / "im18.topk.tmp.123"));  // reopening clears what the kill left
  EXPECT_EQ(r.skipped, 7);
  EXPECT_EQ(r.stored, 13);
  EXPECT_TRUE(r.failures.empty());
  for (const auto& [stem, n] : first.asked) EXPECT_EQ(second.asked.count(stem), 0u) << stem << " asked twice";
  EXPECT_EQ(first.asked.size() + second.asked.size(), 20u);
  for (const auto& f : images->files()) {
    ASSERT_TRUE(store.has_valid_entry(f.stem)) << f.stem;
    const int index = std::stoi(f.stem.substr(2));
    EXPECT_EQ(store.read(f.stem).classes.at<cv::Vec2b>(0, 0)[0], index % 4) << f.stem;
  }
  // A third run asks nothing.
  CountingTeacher third(1000);
  EXPECT_EQ(run_query(third, *images, store).skipped, 20);
  EXPECT_EQ(third.requests(), 0);
}

TEST(Query, AMalformedAnswerFailsOnlyItsImage) {
  TempDir dir;
  auto images = folder_of_images(dir / "data", 5);
  const auto store = PredictionStore::open_for_writing((dir / "store").string(), {2, 4, "bad"});
  class OneBad : public Teacher {
   public:
    OneBad() : Teacher(4) {}
    TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override {
      if (stem == "im02") throw Error("answer for im02 has 3 classes, expected 4");
      TeacherAnswer a;
      a.probabilities = torch::full({4, bgr.rows, bgr.cols}, 0.25);
      return a;
    }
    std::string describe() const override { return "one bad"; }
  } teacher;
  const QueryReport r = run_query(teacher, *images, store);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(segtransfer::testing::contains(r.failures[0], "im02"));
  EXPECT_EQ(r.stored, 4);
  EXPECT_FALSE(store.has_valid_entry("im02"));
}
