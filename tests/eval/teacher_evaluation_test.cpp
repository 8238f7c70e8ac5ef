#include "eval/teacher_evaluation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Answers class 0 on the left half of every image and class 1 on the right half:
// as probabilities, or as the hard labels of a label-only black box.
class HalvesTeacher : public Teacher {
 public:
  HalvesTeacher(int classes, bool labels_only) : Teacher(classes), labels_only_(labels_only) {}
  TeacherAnswer ask(const cv::Mat& bgr, const std::string&) override {
    ++requests_;
    TeacherAnswer a;
    cv::Mat labels(bgr.size(), CV_8UC1, cv::Scalar(0));
    labels(cv::Rect(bgr.cols / 2, 0, bgr.cols - bgr.cols / 2, bgr.rows)).setTo(1);
    if (labels_only_) {
      a.labels = labels;
      return a;
    }
    a.probabilities = torch::full({num_classes_, bgr.rows, bgr.cols}, 0.05f);
    a.probabilities[0].slice(1, 0, bgr.cols / 2).fill_(0.9f);
    a.probabilities[1].slice(1, bgr.cols / 2).fill_(0.9f);
    return a;
  }
  std::string describe() const override { return "halves"; }

 private:
  bool labels_only_;
};

// CamVid layout, one 4x2 val image whose label is class 0 except the last column (class 1).
std::shared_ptr<SegDataset> tiny_camvid(const fs::path& root) {
  fs::create_directories(root / "val");
  fs::create_directories(root / "valannot");
  cv::imwrite((root / "val" / "a.png").string(), cv::Mat(2, 4, CV_8UC3, cv::Scalar(10, 20, 30)));
  cv::Mat label(2, 4, CV_8UC1, cv::Scalar(0));
  label.col(3).setTo(1);
  cv::imwrite((root / "valannot" / "a.png").string(), label);
  DatasetSpec spec;
  spec.type = "camvid", spec.root = root.string(), spec.split = "val";
  return open_dataset(spec);
}

TEST(TeacherEvaluation, ScoresTheAnswersArgmaxByHand) {
  TempDir dir;
  auto val = tiny_camvid(dir / "camvid");
  for (bool labels_only : {false, true}) {
    SCOPED_TRACE(labels_only ? "label-only box" : "probabilities");
    HalvesTeacher teacher(11, labels_only);
    const EvalResult r = evaluate_teacher(teacher, *val, EvalSpec{});
    // class 0: 6 true pixels, 4 predicted, all right: IoU 4/6; class 1: 2 true, 4 predicted: 2/4.
    EXPECT_NEAR(r.iou[0], 4.0 / 6, 1e-9);
    EXPECT_NEAR(r.iou[1], 2.0 / 4, 1e-9);
    for (size_t c = 2; c < r.iou.size(); ++c) EXPECT_TRUE(std::isnan(r.iou[c])) << c;
    EXPECT_NEAR(r.miou, (4.0 / 6 + 0.5) / 2, 1e-9);
    EXPECT_NEAR(r.pixel_accuracy, 6.0 / 8, 1e-9);
    EXPECT_EQ(r.images, 1);
    EXPECT_EQ(teacher.requests(), 1);
  }
}

TEST(TeacherEvaluation, RefusesATeacherInOtherClasses) {
  TempDir dir;
  auto val = tiny_camvid(dir / "camvid");
  HalvesTeacher teacher(19, false);
  const std::string error = segtransfer::testing::error_of([&] { evaluate_teacher(teacher, *val, EvalSpec{}); });
  EXPECT_TRUE(segtransfer::testing::contains(error, "teacher.mapping")) << error;
  EXPECT_EQ(teacher.requests(), 0);
}

}  // namespace
