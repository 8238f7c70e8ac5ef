// Test-time augmented questions (teacher.augment): each image is asked once per view
// (every scale, each also flipped when hflip is set) and the answers are merged in the
// image's frame before they enter the store: probabilities flipped back, resized back
// and averaged; a label-only box's answers by per-pixel vote (a tie goes to the first
// view's label, the unflipped one at the first scale). Every view is one request, so
// the request count and teacher.budget count every view.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "teachers/teacher.h"

namespace segtransfer {

class AugmentedTeacher : public Teacher {
 public:
  AugmentedTeacher(std::unique_ptr<Teacher> inner, std::vector<double> scales, bool hflip);
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override;
  int max_concurrency() const override { return inner_->max_concurrency(); }
  std::string describe() const override;
  int64_t requests() const override { return inner_->requests(); }
  int views() const { return static_cast<int>(scales_.size()) * (hflip_ ? 2 : 1); }

 private:
  std::unique_ptr<Teacher> inner_;
  std::vector<double> scales_;
  bool hflip_;
};

// Per-pixel majority of label maps (CV_8UC1, 255 = no vote); ties go to the earliest map.
cv::Mat vote_labels(const std::vector<cv::Mat>& labels, int num_classes);

}  // namespace segtransfer
