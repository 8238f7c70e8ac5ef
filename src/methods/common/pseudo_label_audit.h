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
#include "methods/common/pseudo_label_rule.h"
#include "teachers/prediction_store.h"

namespace segtransfer {

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
