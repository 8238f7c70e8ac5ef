// Building a trained model for eval/predict from a config and a weights file.
#pragma once
#include <string>

#include "core/config.h"
#include "data/label_space.h"
#include "models/model.h"

namespace segtransfer::cli {

// weights: explicit file, else <run_dir>/model.pt, else <run_dir>/checkpoint.pt.
SegmentationModel load_trained_model(const RunConfig& cfg, const std::string& run_dir, const std::string& weights,
                                     torch::Device device);

// The label space the model predicts in: data.val's (or data.source's) space.
LabelSpace model_label_space(const RunConfig& cfg);

}  // namespace segtransfer::cli
