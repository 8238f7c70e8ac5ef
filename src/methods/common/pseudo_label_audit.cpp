#include "methods/common/pseudo_label_audit.h"

#include <fmt/format.h>

#include <chrono>

#include "core/config.h"
#include "methods/common/pseudo_labels.h"

namespace segtransfer {

ThresholdAudit audit_thresholds(const PredictionStore& store, const SegDataset& target, const ThresholdRule& rule,
                                const std::string& method) {
  const auto start = std::chrono::steady_clock::now();
  const int c = store.info().num_classes;
  ConfidenceHistogram relative(c, Confidence::kRelative), absolute(c, Confidence::kAbsolute);
  ConfidenceHistogram& used = confidence_of(rule.pseudo_labels) == Confidence::kAbsolute ? absolute : relative;
  for (size_t i = 0; i < target.size(); ++i) {
    const auto& files = target.files()[i];
    StoredPrediction p = store.read(files.stem);
    cv::Mat truth = files.label.empty() ? cv::Mat() : target.read(i).label;
    relative.add(p, truth);
    absolute.add(p, truth);
  }
  ThresholdAudit out;
  out.thresholds.assign(c, 0.0);
  if (rule.pseudo_labels == PseudoLabelKind::kArgmax) {
    // every pixel kept
  } else if (rule.thresholds == ThresholdScope::kPerClass) {
    out.thresholds = used.class_thresholds(rule.statistic, rule.percentile);
  } else if (rule.thresholds == ThresholdScope::kGlobal) {
    out.thresholds.assign(c, used.pooled_threshold(rule.statistic, rule.percentile));
  } else {
    out.thresholds.assign(c, rule.fixed_threshold);
  }

  const auto a = used.audit(out.thresholds);
  const double same_share = absolute.global_threshold_keeping(a.kept_share());
  const auto g = absolute.audit(std::vector<double>(c, same_share));
  auto accuracy = [](int64_t correct, int64_t labelled) { return labelled ? double(correct) / labelled : -1.0; };
  int64_t kept_labelled = 0, g_kept_labelled = 0;
  for (int k = 0; k < c; ++k) kept_labelled += a.class_kept_labelled[k], g_kept_labelled += g.class_kept_labelled[k];
  nlohmann::json classes = nlohmann::json::array();
  const LabelSpace& space = target.label_space();
  for (int k = 0; k < c; ++k)
    classes.push_back({{"class", k < space.num_classes() ? space.classes[k] : std::to_string(k)},
                       {"threshold", out.thresholds[k]},
                       {"pixels", a.class_pixels[k]},
                       {"kept_share", a.class_pixels[k] ? double(a.class_kept[k]) / a.class_pixels[k] : 0.0},
                       {"kept_accuracy", accuracy(a.class_kept_correct[k], a.class_kept_labelled[k])},
                       {"global_kept_share", g.class_pixels[k] ? double(g.class_kept[k]) / g.class_pixels[k] : 0.0},
                       {"global_kept_accuracy", accuracy(g.class_kept_correct[k], g.class_kept_labelled[k])}});
  out.json = {{"method", method},
              {"pseudo_labels", choice_name(rule.pseudo_labels, kPseudoLabelKinds)},
              {"thresholds", choice_name(rule.thresholds, kThresholdScopes)},
              {"images", target.size()},
              {"kept_share", a.kept_share()},
              {"kept_accuracy", accuracy(a.kept_correct, kept_labelled)},
              {"all_accuracy", accuracy(a.all_correct, a.labelled)},
              {"global_max_probability_threshold_same_share", same_share},
              {"global_kept_accuracy", accuracy(g.kept_correct, g_kept_labelled)},
              {"classes", classes}};
  out.has_truth = used.has_truth();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string ThresholdAudit::summary() const {
  const auto& j = json;
  if (!has_truth)
    return fmt::format("black-box pseudo-labels over {} target images ({:.1f}s): {:.1f}% of pixels kept",
                       j["images"].get<int64_t>(), seconds, 100 * j["kept_share"].get<double>());
  return fmt::format(
      "black-box pseudo-labels over {} target images ({:.1f}s): {:.1f}% of pixels kept, {:.1f}% of them right (all "
      "pixels: {:.1f}%); one max-probability threshold ({:.3f}) keeping as many: {:.1f}% right",
      j["images"].get<int64_t>(), seconds, 100 * j["kept_share"].get<double>(), 100 * j["kept_accuracy"].get<double>(),
      100 * j["all_accuracy"].get<double>(), j["global_max_probability_threshold_same_share"].get<double>(),
      100 * j["global_kept_accuracy"].get<double>());
}

std::string ThresholdAudit::markdown() const {
  const nlohmann::json& audit = json;
  auto pct = [](const nlohmann::json& v) {
    const double x = v.get<double>();
    return x < 0 ? std::string("-") : fmt::format("{:.1f}", 100 * x);
  };
  std::string out = fmt::format(
      "Black-box pseudo-labels over {} target images: {} / {} thresholds keep {}% of the pixels, {}% of them right "
      "(all pixels: {}%). One global max-probability threshold keeping as many ({:.3f}): {}% right.\n\n"
      "| class | pixels (top-1) | τ_c | kept % | kept right % | global: kept % | global: kept right % |\n"
      "|---|---:|---:|---:|---:|---:|---:|\n",
      audit["images"].get<int64_t>(), audit["pseudo_labels"].get<std::string>(), audit["thresholds"].get<std::string>(),
      pct(audit["kept_share"]), pct(audit["kept_accuracy"]), pct(audit["all_accuracy"]),
      audit["global_max_probability_threshold_same_share"].get<double>(), pct(audit["global_kept_accuracy"]));
  for (const auto& c : audit["classes"]) {
    if (c["pixels"].get<int64_t>() == 0) continue;
    out += fmt::format("| {} | {} | {:.3f} | {} | {} | {} | {} |\n", c["class"].get<std::string>(),
                       c["pixels"].get<int64_t>(), c["threshold"].get<double>(), pct(c["kept_share"]),
                       pct(c["kept_accuracy"]), pct(c["global_kept_share"]), pct(c["global_kept_accuracy"]));
  }
  return out;
}

}  // namespace segtransfer
