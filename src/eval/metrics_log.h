// metrics.jsonl, the training log every run writes (one JSON object per log window
// or evaluation), as a CSV a spreadsheet or pandas reads without a JSON step.
#pragma once
#include <filesystem>

namespace segtransfer {

// One row per logged iteration: `iter`, then every scalar key of the training lines
// (sorted), then `val_miou` and `val_pixel_accuracy` where that iteration was
// evaluated; a value a line lacks is empty. Written atomically.
void write_metrics_csv(const std::filesystem::path& metrics_jsonl, const std::filesystem::path& csv);

}  // namespace segtransfer
