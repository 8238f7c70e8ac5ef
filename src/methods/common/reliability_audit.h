// Does a per-pixel weight single out the right pseudo-labels? Over labelled images
// (ground truth used for this diagnostic only), per pseudo-label class and overall:
// how many pseudo-labels are right, the mean reliability of the right and the wrong
// ones, the AUROC of reliability and of the teacher's confidence (max softmax) as
// predictors of "right", what a confidence threshold keeps (the thresholded mean
// teacher) and the reliability-weighted accuracy (STvM's weights).
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/label_space.h"

namespace segtransfer {

struct ReliabilityClassStats {
  int64_t pixels = 0, right = 0;     // judged pixels (label not ignored, class mapped) and the right ones
  int64_t unmapped = 0;              // labelled pixels whose pseudo-label class maps to no target class
  int64_t kept = 0, kept_right = 0;  // confidence >= the threshold
  double reliability_right = 0, reliability_wrong = 0;  // sums
  // Histograms of a monotone map of each score (see reliability_audit.cpp), right and wrong.
  std::vector<int64_t> reliability_hist[2], confidence_hist[2];

  double accuracy() const;                    // right / pixels
  double mean_reliability(bool right) const;  // NaN when there is none
  double reliability_auroc() const;           // NaN without both right and wrong pixels
  double confidence_auroc() const;
  double kept_share() const;         // kept / pixels
  double kept_accuracy() const;      // kept_right / kept
  double weighted_accuracy() const;  // Σ reliability over right / Σ reliability
  void merge(const ReliabilityClassStats& other);
};

// AUROC of a score as a predictor of "right" from histograms over the same bins,
// bin 0 the highest scores: P(score of a right pixel > that of a wrong one), pixels
// in one bin counted as ties (half). NaN when either histogram is empty.
double histogram_auroc(const std::vector<int64_t>& right, const std::vector<int64_t>& wrong);

class ReliabilityAudit {
 public:
  // class_names: the model's classes (the pseudo-labels'); mapping: those onto the
  // labels' classes (ClassMapping::identity when they are the same); threshold: the
  // confidence a thresholded mean teacher keeps (self_training.pseudo_threshold).
  ReliabilityAudit(std::vector<std::string> class_names, ClassMapping mapping, double threshold);

  // One image, all tensors of the same shape: pseudo-labels (int64, model classes),
  // confidence and reliability in [0, 1], ground truth (int64, target classes,
  // kIgnoreIndex: not judged).
  void add(const torch::Tensor& pseudo, const torch::Tensor& confidence, const torch::Tensor& reliability,
           const torch::Tensor& truth);

  const ReliabilityClassStats& stats(int pseudo_class) const { return classes_.at(pseudo_class); }
  ReliabilityClassStats overall() const;  // every mapped class pooled
  int64_t images() const { return images_; }

  std::string markdown() const;  // the table, one row per model class and one for all
  nlohmann::json json() const;

 private:
  std::vector<std::string> names_;
  ClassMapping mapping_;
  double threshold_;
  std::vector<ReliabilityClassStats> classes_;
  int64_t images_ = 0;
};

}  // namespace segtransfer
