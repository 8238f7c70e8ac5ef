// The run report: one self-contained HTML file (plots as embedded PNGs drawn with
// OpenCV, no scripts or fonts fetched) that a training run writes next to its
// weights, so the people who trained the student can see what happened.
#pragma once
#include <string>

namespace segtransfer {

struct ReportOptions {
  std::string baseline_dir;  // a finished run whose per-class IoU is drawn next to this one's ("" = none)
  std::string baseline_label = "baseline";
};

// Reads the run folder's files — config.yaml, metrics.jsonl (losses, learning
// rate, val mIoU over iterations), metrics.json (final per-class IoU),
// qualitative.png, and CoRTe's diagnostics/pseudo_labels.jsonl and grids — and
// writes <run_dir>/report.html atomically. Sections whose files are absent are
// left out with a line saying why. Returns the report's path; throws Error when
// the folder has no metrics.jsonl (not a training run).
std::string write_run_report(const std::string& run_dir, const ReportOptions& options = {});

}  // namespace segtransfer
