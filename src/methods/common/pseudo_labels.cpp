#include "methods/common/pseudo_labels.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "data/label_space.h"

namespace segtransfer {

Confidence confidence_of(PseudoLabelKind kind) {
  return kind == PseudoLabelKind::kAbsolute ? Confidence::kAbsolute : Confidence::kRelative;
}

torch::Tensor TopKBatch::confidence(Confidence kind) const {
  auto p1 = probabilities.select(1, 0);
  if (kind == Confidence::kAbsolute || probabilities.size(1) == 1) return p1;
  return p1 - probabilities.select(1, 1);
}

TopKBatch decode_top_k(const torch::Tensor& aux) {
  const int64_t k = aux.size(1) / 2;
  TopKBatch t;
  t.classes = aux.narrow(1, 0, k).to(torch::kLong);
  t.probabilities = aux.narrow(1, k, k).to(torch::kFloat32) / 255.0;
  return t;
}

torch::Tensor top_k_distribution(const TopKBatch& answers, int64_t num_classes) {
  const auto valid = answers.classes != kIgnoreIndex;  // (B, k, H, W)
  auto probs = answers.probabilities * valid;
  const int64_t k = answers.classes.size(1);
  auto rest = (1 - probs.sum(1, true)).clamp_min(0) / std::max<int64_t>(1, num_classes - k);  // (B, 1, H, W)
  auto sizes = answers.classes.sizes().vec();
  sizes[1] = num_classes;
  auto dist = rest.expand(sizes).clone();
  // Ignored slots scatter onto class 0 with value 0 after the clear below, so they add nothing.
  auto index = answers.classes.masked_fill(~valid, 0);
  dist.scatter_(1, index, torch::zeros_like(probs));
  dist.scatter_add_(1, index, probs);
  return dist * valid.select(1, 0).unsqueeze(1);
}

torch::Tensor filter_by_threshold(const torch::Tensor& top1, const torch::Tensor& confidence,
                                  const torch::Tensor& thresholds) {
  auto valid = top1 != kIgnoreIndex;
  auto tau = thresholds.index({top1.masked_fill(~valid, 0)});
  // A hair under τ so a stored (quantised) confidence equal to τ is kept.
  return top1.masked_fill(~valid | (confidence < tau - 1e-6), kIgnoreIndex);
}

ConfidenceHistogram::ConfidenceHistogram(int num_classes, Confidence kind)
    : num_classes_(num_classes),
      kind_(kind),
      count_(num_classes, std::array<int64_t, 256>{}),
      correct_(num_classes, std::array<int64_t, 256>{}),
      labelled_count_(num_classes, std::array<int64_t, 256>{}) {}

void ConfidenceHistogram::add(const StoredPrediction& p, const cv::Mat& truth) {
  if (!truth.empty() && truth.size() != p.classes.size())
    throw Error(fmt::format("ground truth is {}x{} but the stored answer is {}x{}", truth.cols, truth.rows,
                            p.classes.cols, p.classes.rows));
  const int k = p.k;
  for (int y = 0; y < p.classes.rows; ++y) {
    const uint8_t* c = p.classes.ptr<uint8_t>(y);
    const uint8_t* q = p.probabilities.ptr<uint8_t>(y);
    const uint8_t* t = truth.empty() ? nullptr : truth.ptr<uint8_t>(y);
    for (int x = 0; x < p.classes.cols; ++x) {
      const int cls = c[x * k];
      if (cls == kIgnoreIndex || cls >= num_classes_) continue;
      int bin = q[x * k];
      if (kind_ == Confidence::kRelative && k > 1) bin = std::max(0, bin - q[x * k + 1]);
      ++count_[cls][bin];
      if (t && t[x] != kIgnoreIndex) {
        ++labelled_count_[cls][bin];
        ++labelled_;
        if (t[x] == cls) ++correct_[cls][bin];
      }
    }
  }
}

double ConfidenceHistogram::statistic_of(const std::array<int64_t, 256>& bins, ThresholdStatistic statistic,
                                         double percentile) {
  int64_t n = 0;
  double sum = 0;
  for (int b = 0; b < 256; ++b) n += bins[b], sum += static_cast<double>(b) * bins[b];
  if (n == 0) return 0.0;
  if (statistic == ThresholdStatistic::kMean) return sum / static_cast<double>(n) / 255.0;
  const double want = percentile / 100.0 * static_cast<double>(n);
  int64_t cumulative = 0;
  for (int b = 0; b < 256; ++b) {
    cumulative += bins[b];
    if (static_cast<double>(cumulative) >= want) return b / 255.0;
  }
  return 1.0;
}

std::vector<double> ConfidenceHistogram::class_thresholds(ThresholdStatistic statistic, double percentile) const {
  std::vector<double> tau(num_classes_, 0.0);
  for (int c = 0; c < num_classes_; ++c) tau[c] = statistic_of(count_[c], statistic, percentile);
  return tau;
}

double ConfidenceHistogram::pooled_threshold(ThresholdStatistic statistic, double percentile) const {
  std::array<int64_t, 256> all{};
  for (int c = 0; c < num_classes_; ++c)
    for (int b = 0; b < 256; ++b) all[b] += count_[c][b];
  return statistic_of(all, statistic, percentile);
}

double ConfidenceHistogram::global_threshold_keeping(double share) const {
  std::array<int64_t, 256> all{};
  int64_t total = 0;
  for (int c = 0; c < num_classes_; ++c)
    for (int b = 0; b < 256; ++b) all[b] += count_[c][b], total += count_[c][b];
  int64_t kept = 0;
  for (int b = 255; b >= 0; --b) {
    kept += all[b];
    if (static_cast<double>(kept) >= share * static_cast<double>(total)) return b / 255.0;
  }
  return 0.0;
}

ConfidenceHistogram::Audit ConfidenceHistogram::audit(const std::vector<double>& thresholds) const {
  Audit a;
  a.class_pixels.assign(num_classes_, 0);
  a.class_kept.assign(num_classes_, 0);
  a.class_kept_correct.assign(num_classes_, 0);
  a.class_kept_labelled.assign(num_classes_, 0);
  for (int c = 0; c < num_classes_; ++c) {
    const int first_kept = static_cast<int>(std::ceil(thresholds[c] * 255.0 - 1e-6));
    for (int b = 0; b < 256; ++b) {
      a.class_pixels[c] += count_[c][b];
      a.labelled += labelled_count_[c][b];
      a.all_correct += correct_[c][b];
      if (b < first_kept) continue;
      a.class_kept[c] += count_[c][b];
      a.class_kept_correct[c] += correct_[c][b];
      a.class_kept_labelled[c] += labelled_count_[c][b];
    }
    a.pixels += a.class_pixels[c];
    a.kept += a.class_kept[c];
    a.kept_correct += a.class_kept_correct[c];
  }
  return a;
}

}  // namespace segtransfer
