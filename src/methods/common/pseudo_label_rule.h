// How a black-box method filters its pseudo-labels: the `corte:` switches
// pseudo_labels, thresholds and statistic, parsed into enums once where the section
// is read (an unknown value fails at --dry-run), with the names the config uses.
#pragma once
#include <array>
#include <string_view>
#include <utility>

namespace segtransfer {

enum class PseudoLabelKind { kRelative, kAbsolute, kArgmax };  // p1 − p2 | p1 | keep every pixel
enum class ThresholdScope { kPerClass, kGlobal, kFixed };      // τ_c per class | one pooled τ | fixed_threshold
enum class ThresholdStatistic { kMean, kPercentile };          // of the confidences a threshold summarises

inline constexpr std::array<std::pair<std::string_view, PseudoLabelKind>, 3> kPseudoLabelKinds{
    {{"relative", PseudoLabelKind::kRelative},
     {"absolute", PseudoLabelKind::kAbsolute},
     {"argmax", PseudoLabelKind::kArgmax}}};
inline constexpr std::array<std::pair<std::string_view, ThresholdScope>, 3> kThresholdScopes{
    {{"per_class", ThresholdScope::kPerClass}, {"global", ThresholdScope::kGlobal}, {"fixed", ThresholdScope::kFixed}}};
inline constexpr std::array<std::pair<std::string_view, ThresholdStatistic>, 2> kThresholdStatistics{
    {{"mean", ThresholdStatistic::kMean}, {"percentile", ThresholdStatistic::kPercentile}}};

struct ThresholdRule {
  PseudoLabelKind pseudo_labels = PseudoLabelKind::kRelative;
  ThresholdScope thresholds = ThresholdScope::kPerClass;
  ThresholdStatistic statistic = ThresholdStatistic::kMean;
  double percentile = 50, fixed_threshold = 0.968;
};

}  // namespace segtransfer
