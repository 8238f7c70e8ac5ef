// Pseudo-labels from a black box's stored top-k answers: decoding the batch,
// confidence (relative p1 − p2 or absolute p1), per-class thresholds computed once
// over the whole target set, and the audit of what a threshold keeps.
#pragma once
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "methods/common/pseudo_label_rule.h"
#include "teachers/prediction_store.h"

namespace segtransfer {

enum class Confidence { kRelative, kAbsolute };
// The confidence a rule thresholds (kArgmax keeps every pixel: it is scored as relative).
Confidence confidence_of(PseudoLabelKind kind);

// A batch of stored answers, as the loader delivers them (Batch::aux).
struct TopKBatch {
  torch::Tensor classes;        // (B, k, H, W) int64, 255 = ignore
  torch::Tensor probabilities;  // (B, k, H, W) float32 in [0, 1]
  torch::Tensor top1() const { return classes.select(1, 0); }
  // p1 − p2 (relative) or p1 (absolute); a label-only answer (k = 1) has p1 = 1.
  torch::Tensor confidence(Confidence kind) const;
};
// aux: (B, 2k, H, W) uint8 = k class planes then k quantised probability planes.
TopKBatch decode_top_k(const torch::Tensor& aux);

// The distribution the top-k describe: their probabilities, the remaining mass
// spread evenly over the other classes. (B, C, H, W); ignored pixels are all zero.
torch::Tensor top_k_distribution(const TopKBatch& answers, int64_t num_classes);

// Keeps top-1 class c where confidence ≥ thresholds[c], else 255.
torch::Tensor filter_by_threshold(const torch::Tensor& top1, const torch::Tensor& confidence,
                                  const torch::Tensor& thresholds);

// Per-class histograms of the quantised confidence (0..255) of the pixels whose
// top-1 is that class, over a whole dataset; with ground truth, also how many of
// them were right. Exact thresholds and audits follow from it.
class ConfidenceHistogram {
 public:
  ConfidenceHistogram(int num_classes, Confidence kind);
  // `truth` (CV_8UC1, may be empty) must be at the prediction's size.
  void add(const StoredPrediction& prediction, const cv::Mat& truth = cv::Mat());

  // τ_c: the mean or the `percentile` (0..100) of class c's confidence; 0 if the class never wins.
  std::vector<double> class_thresholds(ThresholdStatistic statistic, double percentile) const;
  // The mean / percentile of every pixel's confidence, classes pooled.
  double pooled_threshold(ThresholdStatistic statistic, double percentile) const;
  // The one threshold that keeps `share` of all pixels (over every class).
  double global_threshold_keeping(double share) const;

  struct Audit {
    int64_t pixels = 0, kept = 0, kept_correct = 0, labelled = 0, all_correct = 0;
    std::vector<int64_t> class_pixels, class_kept, class_kept_correct, class_kept_labelled;
    double kept_share() const { return pixels ? static_cast<double>(kept) / pixels : 0; }
  };
  // What per-class thresholds keep (quantised confidence ≥ round(τ_c · 255)).
  Audit audit(const std::vector<double>& thresholds) const;
  bool has_truth() const { return labelled_ > 0; }
  int num_classes() const { return num_classes_; }

 private:
  int num_classes_;
  Confidence kind_;
  int64_t labelled_ = 0;
  // [class][bin]: pixels, and pixels whose truth equals the class (truth known).
  std::vector<std::array<int64_t, 256>> count_, correct_, labelled_count_;
  static double statistic_of(const std::array<int64_t, 256>& bins, ThresholdStatistic statistic, double percentile);
};

}  // namespace segtransfer
