#include "methods/common/reliability_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "data/class_mapping.h"

namespace segtransfer {

namespace {

// AUROC from histograms, not from every pixel's score (CamVid val at 1024x512 is 53
// million pixels): kBins bins of the score's logit log(p / (1 - p)) over [-20, 20], a
// monotone map of p, so the ranking is p's. A bin is 0.002 in logit: pixels within
// about 0.05% of each other at p = 0.5, or within 0.2% of each other's 1 - p near 1
// (p near 0 alike), count as ties.
constexpr int64_t kBins = 20000;
constexpr double kLogitRange = 20;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Bin of each score p in [0, 1] (float64): bin 0 holds the highest scores.
torch::Tensor bins_of(const torch::Tensor& p) {
  const auto logit = torch::clamp(torch::log(p) - torch::log1p(-p), -kLogitRange, kLogitRange);
  return ((kLogitRange - logit) * (kBins / (2 * kLogitRange))).floor().clamp(0, kBins - 1).to(torch::kLong);
}

// bincount of `cells` (int64 in [0, n)), weighted or not, as a vector.
template <typename T>
std::vector<T> counts_of(const torch::Tensor& cells, int64_t n, const torch::Tensor& weights = {}) {
  const auto c = torch::bincount(cells, weights, n).to(std::is_same_v<T, double> ? torch::kDouble : torch::kLong);
  const T* data = c.template data_ptr<T>();
  return std::vector<T>(data, data + n);
}

double ratio(double a, double b) { return b > 0 ? a / b : kNaN; }

std::string percent(double x) { return std::isnan(x) ? "–" : fmt::format("{:.1f}%", 100 * x); }
std::string fixed3(double x) { return std::isnan(x) ? "–" : fmt::format("{:.3f}", x); }

nlohmann::json number(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }

}  // namespace

double ReliabilityClassStats::accuracy() const {
  return ratio(static_cast<double>(right), static_cast<double>(pixels));
}
double ReliabilityClassStats::mean_reliability(bool is_right) const {
  return is_right ? ratio(reliability_right, static_cast<double>(right))
                  : ratio(reliability_wrong, static_cast<double>(pixels - right));
}
double ReliabilityClassStats::reliability_auroc() const {
  return histogram_auroc(reliability_hist[1], reliability_hist[0]);
}
double ReliabilityClassStats::confidence_auroc() const {
  return histogram_auroc(confidence_hist[1], confidence_hist[0]);
}
double ReliabilityClassStats::kept_share() const {
  return ratio(static_cast<double>(kept), static_cast<double>(pixels));
}
double ReliabilityClassStats::kept_accuracy() const {
  return ratio(static_cast<double>(kept_right), static_cast<double>(kept));
}
double ReliabilityClassStats::weighted_accuracy() const {
  return ratio(reliability_right, reliability_right + reliability_wrong);
}

void ReliabilityClassStats::merge(const ReliabilityClassStats& o) {
  pixels += o.pixels;
  right += o.right;
  unmapped += o.unmapped;
  kept += o.kept;
  kept_right += o.kept_right;
  reliability_right += o.reliability_right;
  reliability_wrong += o.reliability_wrong;
  for (int r = 0; r < 2; ++r) {
    reliability_hist[r].resize(kBins, 0);
    confidence_hist[r].resize(kBins, 0);
    for (size_t b = 0; b < o.reliability_hist[r].size(); ++b) reliability_hist[r][b] += o.reliability_hist[r][b];
    for (size_t b = 0; b < o.confidence_hist[r].size(); ++b) confidence_hist[r][b] += o.confidence_hist[r][b];
  }
}

double histogram_auroc(const std::vector<int64_t>& right, const std::vector<int64_t>& wrong) {
  if (right.size() != wrong.size()) throw Error("histogram_auroc: the two histograms have different bins");
  double right_above = 0, pairs_won = 0, n_right = 0, n_wrong = 0;
  for (size_t b = 0; b < right.size(); ++b) {  // from the highest scores down
    pairs_won += static_cast<double>(wrong[b]) * (right_above + 0.5 * static_cast<double>(right[b]));
    right_above += static_cast<double>(right[b]);
    n_wrong += static_cast<double>(wrong[b]);
  }
  n_right = right_above;
  return n_right > 0 && n_wrong > 0 ? pairs_won / (n_right * n_wrong) : kNaN;
}

ReliabilityAudit::ReliabilityAudit(std::vector<std::string> class_names, ClassMapping mapping, double threshold)
    : names_(std::move(class_names)), mapping_(std::move(mapping)), threshold_(threshold), classes_(names_.size()) {
  if (mapping_.target_of.size() != names_.size())
    throw Error(fmt::format("reliability audit: a mapping of {} classes for a model of {}", mapping_.target_of.size(),
                            names_.size()));
  for (auto& c : classes_)
    for (int r = 0; r < 2; ++r) {
      c.reliability_hist[r].assign(kBins, 0);
      c.confidence_hist[r].assign(kBins, 0);
    }
}

void ReliabilityAudit::add(const torch::Tensor& pseudo, const torch::Tensor& confidence,
                           const torch::Tensor& reliability, const torch::Tensor& truth) {
  torch::NoGradGuard no_grad;
  if (pseudo.sizes() != confidence.sizes() || pseudo.sizes() != reliability.sizes() || pseudo.sizes() != truth.sizes())
    throw Error("reliability audit: pseudo-labels, confidence, reliability and labels differ in shape");
  const int64_t n = static_cast<int64_t>(names_.size());
  const auto p = pseudo.flatten().to(torch::kCPU, torch::kLong), t = truth.flatten().to(torch::kCPU, torch::kLong);
  if (p.numel() > 0 && (p.min().item<int64_t>() < 0 || p.max().item<int64_t>() >= n))
    throw Error(fmt::format("reliability audit: a pseudo-label outside the model's {} classes", n));
  const auto mapped = target_class_table(mapping_).index_select(0, p);
  const auto valid = t != kIgnoreIndex;
  const auto unmapped = counts_of<int64_t>(p.masked_select(valid & (mapped < 0)), n);
  const auto judged = valid & (mapped >= 0);
  // One cell per (class, right): 2c + right.
  const auto cell = p.masked_select(judged) * 2 + (mapped == t).masked_select(judged).to(torch::kLong);
  const auto conf = confidence.flatten().to(torch::kCPU, torch::kDouble).masked_select(judged);
  const auto rel = reliability.flatten().to(torch::kCPU, torch::kDouble).masked_select(judged);
  const auto pixels = counts_of<int64_t>(cell, 2 * n),
             kept = counts_of<int64_t>(cell.masked_select(conf >= threshold_), 2 * n);
  const auto rel_sum = counts_of<double>(cell, 2 * n, rel);
  const auto rel_hist = counts_of<int64_t>(cell * kBins + bins_of(rel), 2 * n * kBins);
  const auto conf_hist = counts_of<int64_t>(cell * kBins + bins_of(conf), 2 * n * kBins);
  for (int64_t c = 0; c < n; ++c) {
    ReliabilityClassStats& s = classes_[c];
    s.unmapped += unmapped[c];
    s.pixels += pixels[2 * c] + pixels[2 * c + 1];
    s.right += pixels[2 * c + 1];
    s.kept += kept[2 * c] + kept[2 * c + 1];
    s.kept_right += kept[2 * c + 1];
    s.reliability_wrong += rel_sum[2 * c];
    s.reliability_right += rel_sum[2 * c + 1];
    for (int r = 0; r < 2; ++r)
      for (int64_t b = 0; b < kBins; ++b) {
        s.reliability_hist[r][b] += rel_hist[(2 * c + r) * kBins + b];
        s.confidence_hist[r][b] += conf_hist[(2 * c + r) * kBins + b];
      }
  }
  ++images_;
}

ReliabilityClassStats ReliabilityAudit::overall() const {
  ReliabilityClassStats all;
  for (const auto& c : classes_) all.merge(c);
  return all;
}

namespace {
std::string row(const std::string& name, const ReliabilityClassStats& s) {
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", name, s.pixels, percent(s.accuracy()),
                     fixed3(s.mean_reliability(true)), fixed3(s.mean_reliability(false)), fixed3(s.reliability_auroc()),
                     fixed3(s.confidence_auroc()), percent(s.kept_share()), percent(s.kept_accuracy()),
                     percent(s.weighted_accuracy()));
}

nlohmann::json stats_json(const ReliabilityClassStats& s) {
  return {{"pixels", s.pixels},
          {"accuracy", number(s.accuracy())},
          {"reliability_right", number(s.mean_reliability(true))},
          {"reliability_wrong", number(s.mean_reliability(false))},
          {"auroc_reliability", number(s.reliability_auroc())},
          {"auroc_confidence", number(s.confidence_auroc())},
          {"kept_share", number(s.kept_share())},
          {"kept_accuracy", number(s.kept_accuracy())},
          {"reliability_weighted_accuracy", number(s.weighted_accuracy())}};
}
}  // namespace

std::string ReliabilityAudit::markdown() const {
  std::string out = fmt::format(
      "| pseudo-label class | pixels | right | reliability, right | reliability, wrong | AUROC reliability | AUROC "
      "confidence | kept (confidence ≥ {}) | kept, right | reliability-weighted right |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      threshold_);
  std::vector<std::string> unmapped;
  for (size_t c = 0; c < classes_.size(); ++c) {
    if (mapping_.target_of[c] >= 0) {
      out += row(names_[c], classes_[c]);
      continue;
    }
    out += fmt::format("| {} | {} | no target class: not scored | | | | | | | |\n", names_[c], classes_[c].unmapped);
    unmapped.push_back(fmt::format("{} {}", names_[c], classes_[c].unmapped));
  }
  out += row("**all**", overall());
  out += fmt::format(
      "\n{} images. A pseudo-label (the teacher's argmax) is right when its class, mapped to the labels' classes, "
      "is the label; pixels labelled {} are skipped. AUROC: how well the score ranks right above wrong pseudo-labels "
      "(0.5: chance; from {}-bin histograms of the score's logit). kept: the pixels a thresholded mean teacher trains "
      "on. "
      "Reliability-weighted right: the share of the reliability weights on right pseudo-labels.\n",
      images_, kIgnoreIndex, kBins);
  if (!unmapped.empty())
    out += fmt::format(
        "Pseudo-labels of classes with no target class are neither right nor wrong and not in **all** (pixels: "
        "{}).\n",
        fmt::join(unmapped, ", "));
  return out;
}

nlohmann::json ReliabilityAudit::json() const {
  nlohmann::json classes = nlohmann::json::array();
  for (size_t c = 0; c < classes_.size(); ++c) {
    nlohmann::json j = stats_json(classes_[c]);
    j["class"] = names_[c];
    j["target_class"] = mapping_.target_of[c] >= 0 ? nlohmann::json(mapping_.target_of[c]) : nlohmann::json(nullptr);
    j["unmapped_pixels"] = classes_[c].unmapped;
    classes.push_back(j);
  }
  return {{"images", images_},   {"threshold", threshold_}, {"ignore_index", kIgnoreIndex},
          {"auroc_bins", kBins}, {"classes", classes},      {"all", stats_json(overall())}};
}

}  // namespace segtransfer
