#include "teachers/augmented_teacher.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>

#include "teachers/query.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::error_of;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Answers class 0 on the left half of whatever view it is shown, class 1 on the right
// half (probability 1), or the same as hard labels; counts the views it was asked.
class HalvesTeacher : public Teacher {
 public:
  explicit HalvesTeacher(bool labels_only = false) : Teacher(2), labels_only_(labels_only) {}
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_;
    ++asked[stem];
    sizes.push_back(bgr.size());
    TeacherAnswer a;
    const int half = bgr.cols / 2;
    if (labels_only_) {
      a.labels = cv::Mat(bgr.size(), CV_8UC1, cv::Scalar(1));
      a.labels.colRange(0, half).setTo(0);
      return a;
    }
    a.probabilities = torch::zeros({2, bgr.rows, bgr.cols});
    a.probabilities[0].narrow(1, 0, half).fill_(1);
    a.probabilities[1].narrow(1, half, bgr.cols - half).fill_(1);
    return a;
  }
  std::string describe() const override { return "halves"; }
  std::map<std::string, int> asked;
  std::vector<cv::Size> sizes;

 private:
  bool labels_only_;
  std::mutex mutex_;
};

}  // namespace

// Flip: the mirrored view's "left half" is the image's right half once flipped back,
// so the average is exactly 0.5 everywhere. Scale: the half-size view, resized back,
// says the same as the full view away from the step.
TEST(AugmentedTeacher, MergesFlippedAndScaledViewsInTheImagesFrame) {
  const cv::Mat image(6, 16, CV_8UC3, cv::Scalar(9, 9, 9));
  auto flipping = std::make_unique<HalvesTeacher>();
  HalvesTeacher* inner = flipping.get();
  AugmentedTeacher flipped(std::move(flipping), {1.0}, /*hflip=*/true);
  const TeacherAnswer a = flipped.ask(image, "x");
  EXPECT_TRUE(torch::allclose(a.probabilities, torch::full({2, 6, 16}, 0.5)));
  EXPECT_EQ(inner->requests(), 2);
  EXPECT_EQ(flipped.requests(), 2);

  auto scaling = std::make_unique<HalvesTeacher>();
  inner = scaling.get();
  AugmentedTeacher scaled(std::move(scaling), {1.0, 0.5}, /*hflip=*/false);
  const TeacherAnswer b = scaled.ask(image, "x");
  ASSERT_EQ(b.probabilities.sizes(), (std::vector<int64_t>{2, 6, 16}));
  EXPECT_EQ(inner->sizes, (std::vector<cv::Size>{cv::Size(16, 6), cv::Size(8, 3)}));
  EXPECT_FLOAT_EQ(b.probabilities[0][2][1].item<float>(), 1.0f);   // left, away from the step
  EXPECT_FLOAT_EQ(b.probabilities[0][2][14].item<float>(), 0.0f);  // right
  EXPECT_TRUE(torch::allclose(b.probabilities.sum(0), torch::ones({6, 16})));
  EXPECT_NE(scaled.describe().find("2 views"), std::string::npos) << scaled.describe();
}

// Label-only boxes: per-pixel majority, a tie to the first view; a flipped label map
// of halves against the unflipped one ties everywhere, so the unflipped one wins.
TEST(AugmentedTeacher, LabelOnlyAnswersVote) {
  const auto map = [](std::vector<uint8_t> v) {
    return cv::Mat(1, static_cast<int>(v.size()), CV_8UC1, v.data()).clone();
  };
  const cv::Mat voted = vote_labels({map({1, 1, 2, 0}), map({2, 1, 2, 1}), map({2, 0, 255, 255})}, 3);
  EXPECT_EQ(voted.at<uint8_t>(0, 0), 2);  // 2 of 3
  EXPECT_EQ(voted.at<uint8_t>(0, 1), 1);
  EXPECT_EQ(voted.at<uint8_t>(0, 2), 2);  // 255 does not vote
  EXPECT_EQ(voted.at<uint8_t>(0, 3), 0);  // 0 against 1: a tie, the first map's
  EXPECT_EQ(vote_labels({map({255})}, 3).at<uint8_t>(0, 0), 255);

  AugmentedTeacher flipped(std::make_unique<HalvesTeacher>(/*labels_only=*/true), {1.0}, true);
  const cv::Mat labels = flipped.ask(cv::Mat(4, 10, CV_8UC3, cv::Scalar(0)), "x").labels;
  EXPECT_EQ(labels.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(labels.at<uint8_t>(0, 9), 1);
}

TEST(AugmentedTeacher, RejectsBadScales) {
  EXPECT_NE(error_of([] { AugmentedTeacher(std::make_unique<HalvesTeacher>(), {}, true); }).find("teacher.augment"),
            std::string::npos);
  EXPECT_NE(error_of([] { AugmentedTeacher(std::make_unique<HalvesTeacher>(), {0.0}, false); }).find("scales"),
            std::string::npos);
}

// Every view is a request; a resumed query asks only the images without an answer,
// each once per view.
TEST(AugmentedTeacher, AResumedQueryAsksOnlyWhatIsMissing) {
  TempDir dir;
  fs::create_directories(dir / "data" / "images");
  for (int i = 0; i < 5; ++i)
    cv::imwrite((dir / "data" / "images" / fmt::format("im{}.png", i)).string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(i)));
  DatasetSpec spec;
  spec.type = "folder";
  spec.root = (dir / "data").string();
  spec.labels = false;
  spec.label_space = "camvid11";
  auto images = open_dataset(spec);
  const auto store = PredictionStore::open_for_writing((dir / "store").string(), {2, 2, "halves, augmented"});
  auto inner = std::make_unique<HalvesTeacher>();
  HalvesTeacher* counts = inner.get();
  AugmentedTeacher teacher(std::move(inner), {1.0, 0.5}, /*hflip=*/true);
  fs::remove_all(dir / "data" / "images" / "im3.png");
  auto four = open_dataset(spec);
  EXPECT_EQ(run_query(teacher, *four, store).requests, 4 * 4);
  cv::imwrite((dir / "data" / "images" / "im3.png").string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(3)));
  const QueryReport again = run_query(teacher, *open_dataset(spec), store);
  EXPECT_EQ(again.skipped, 4);
  EXPECT_EQ(again.requests, 4);  // im3's four views only
  EXPECT_EQ(counts->asked["im3"], 4);
  EXPECT_EQ(counts->asked["im0"], 4);
}
