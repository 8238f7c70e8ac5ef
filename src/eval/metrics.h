// Confusion matrix → per-class IoU, mIoU and pixel accuracy over a protocol's classes.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "data/label_space.h"

namespace segtransfer {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes, int ignore_index = kIgnoreIndex);
  // pred, target: integer tensors of the same shape (any rank). Target pixels equal to
  // ignore_index are skipped; predictions outside [0, C) count as wrong (row of target).
  void add(const torch::Tensor& pred, const torch::Tensor& target);
  void merge(const ConfusionMatrix& other);
  int num_classes() const { return n_; }
  // matrix[t][p] = number of pixels of target class t predicted as p.
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t at(int target, int pred) const { return counts_[static_cast<size_t>(target) * n_ + pred]; }

  std::vector<double> iou() const;  // NaN for a class absent from target and prediction
  double pixel_accuracy() const;
  // Mean over `classes` (all if empty) of the non-NaN IoUs.
  double mean_iou(const std::vector<int>& classes = {}) const;

 private:
  int n_, ignore_;
  std::vector<int64_t> counts_;
  // Per target class: pixels predicted outside [0, C) (false negatives, no false positive).
  std::vector<int64_t> out_of_range_;
};

struct EvalResult {
  std::string protocol;            // "19", "16", "13" or "all"
  std::vector<int> classes;        // scored class indices
  std::vector<std::string> names;  // of all classes in the space
  std::vector<double> iou;         // per class of the space (NaN if absent)
  double miou = 0, pixel_accuracy = 0;
  int64_t images = 0;
  double seconds = 0;
};

EvalResult summarise(const ConfusionMatrix& cm, const LabelSpace& space, const std::string& protocol);
// A human table: one row per scored class, then mIoU and pixel accuracy.
std::string format_table(const EvalResult& r, const std::string& title = "");
// Side-by-side table of several results (columns), one row per class.
std::string format_comparison(const std::vector<std::pair<std::string, EvalResult>>& columns);
std::string to_json(const EvalResult& r);

}  // namespace segtransfer
