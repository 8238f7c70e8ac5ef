// The thresholds a black-box method filters its pseudo-labels with, computed once
// over every stored answer of the target set, and the audit of what they keep: per
// class τ_c, kept share and, where the images have ground truth (synthetic data, or
// a labelled split asked only for this diagnostic), how often the kept labels are
// right, next to one global max-probability threshold keeping as many pixels.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "teachers/prediction_store.h"

namespace segtransfer {

// How thresholds are chosen (the `corte:` keys of the same names).
struct ThresholdRule {
  std::string pseudo_labels = "relative";  // relative (p1 − p2) | absolute (p1) | argmax (keep all)
  std::string thresholds = "per_class";    // per_class | global | fixed
  std::string statistic = "mean";          // mean | percentile
  double percentile = 50, fixed_threshold = 0.968;
};

struct ThresholdAudit {
  std::vector<double> thresholds;  // τ_c, one per class
  nlohmann::json json;             // what pseudo_label_audit.json holds
  bool has_truth = false;
  double seconds = 0;
  std::string markdown() const;  // the table of pseudo_label_audit.md
  std::string summary() const;   // one log line
};

// Reads the stored answer of every image of `target` (and its label when it has
// one) once. `method` only names the run in the audit.
ThresholdAudit audit_thresholds(const PredictionStore& store, const SegDataset& target, const ThresholdRule& rule,
                                const std::string& method);

}  // namespace segtransfer
