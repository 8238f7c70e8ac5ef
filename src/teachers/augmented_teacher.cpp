#include "teachers/augmented_teacher.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

namespace segtransfer {

AugmentedTeacher::AugmentedTeacher(std::unique_ptr<Teacher> inner, std::vector<double> scales, bool hflip)
    : Teacher(inner->num_classes()), inner_(std::move(inner)), scales_(std::move(scales)), hflip_(hflip) {
  if (scales_.empty()) throw Error("config key 'teacher.augment.scales' must list at least one scale");
  for (double s : scales_)
    if (!(s > 0 && s <= 4)) throw Error(fmt::format("config key 'teacher.augment.scales': {} is not in (0, 4]", s));
}

TeacherAnswer AugmentedTeacher::ask(const cv::Mat& bgr, const std::string& stem) {
  namespace F = torch::nn::functional;
  torch::Tensor sum;
  std::vector<cv::Mat> labels;
  for (double scale : scales_) {
    for (const bool flip : {false, true}) {
      if (flip && !hflip_) continue;
      cv::Mat view = bgr;
      if (scale != 1.0) {
        const cv::Size size(std::max(1, static_cast<int>(std::lround(bgr.cols * scale))),
                            std::max(1, static_cast<int>(std::lround(bgr.rows * scale))));
        cv::resize(bgr, view, size, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      }
      if (flip) cv::flip(view, view, 1);
      TeacherAnswer answer = inner_->ask(view, stem);  // at the view's size
      if (answer.has_probabilities()) {
        torch::Tensor p = flip ? answer.probabilities.flip(2) : answer.probabilities;
        if (p.size(1) != bgr.rows || p.size(2) != bgr.cols)
          p = F::interpolate(p.unsqueeze(0), F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{bgr.rows, bgr.cols})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false))
                  .squeeze(0);
        sum = sum.defined() ? sum + p : p.clone();
      } else {
        cv::Mat l = answer.labels;
        if (flip) cv::flip(l, l, 1);
        if (l.size() != bgr.size()) cv::resize(l, l, bgr.size(), 0, 0, cv::INTER_NEAREST);
        labels.push_back(l);
      }
    }
  }
  TeacherAnswer merged;
  if (sum.defined()) merged.probabilities = sum / static_cast<double>(views());
  if (!labels.empty()) merged.labels = vote_labels(labels, num_classes_);
  return merged;
}

std::string AugmentedTeacher::describe() const {
  std::string scales;
  for (double s : scales_) scales += (scales.empty() ? "" : "/") + fmt::format("{:g}", s);
  return fmt::format("{}, test-time augmented ({} views: scales {}{})", inner_->describe(), views(), scales,
                     hflip_ ? ", each flipped" : "");
}

cv::Mat vote_labels(const std::vector<cv::Mat>& labels, int num_classes) {
  const cv::Size size = labels.front().size();
  // counts[c] per pixel, plus half a vote for the earliest map that voted there: it breaks ties only.
  std::vector<cv::Mat> counts;
  for (int c = 0; c < num_classes; ++c) counts.push_back(cv::Mat::zeros(size, CV_32F));
  cv::Mat first_voted = cv::Mat::zeros(size, CV_8UC1);
  for (const cv::Mat& l : labels) {
    for (int y = 0; y < size.height; ++y) {
      const uint8_t* row = l.ptr<uint8_t>(y);
      uint8_t* first = first_voted.ptr<uint8_t>(y);
      for (int x = 0; x < size.width; ++x) {
        if (row[x] >= num_classes) continue;
        counts[row[x]].at<float>(y, x) += first[x] ? 1.0f : 1.5f;
        first[x] = 1;
      }
    }
  }
  cv::Mat out(size, CV_8UC1, cv::Scalar(255));
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      float best = 0;
      for (int c = 0; c < num_classes; ++c)
        if (counts[c].at<float>(y, x) > best) best = counts[c].at<float>(y, x), out.at<uint8_t>(y, x) = c;
    }
  return out;
}

}  // namespace segtransfer
