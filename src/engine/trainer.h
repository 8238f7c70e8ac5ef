// The training loop shared by every method: schedule, progress, checkpoints,
// exact resume, periodic evaluation, metrics.jsonl.
#pragma once
#include <optional>
#include <string>

#include "core/config.h"
#include "eval/metrics.h"

namespace segtransfer {

struct TrainOptions {
  bool resume = false;      // continue from <output>/checkpoint.pt
  int64_t stop_at = -1;     // stop (with a checkpoint) after this iteration; -1 = run to the end
  std::string resume_from;  // continue from this checkpoint.pt instead (mmsegmentation's --resume-from)
};

struct TrainResult {
  int64_t iterations = 0;          // completed
  double seconds = 0;              // training-loop seconds of the whole run (over resumes), evaluation excluded
  std::optional<EvalResult> eval;  // final evaluation on data.val, if any
  std::string weights;             // <output>/model.pt (PyTorch state_dict archive), written at the end
};

// Output folder: config.yaml (effective config), checkpoint.pt (latest, atomic),
// metrics.jsonl (one JSON object per log line / evaluation) and metrics.csv (the
// same as a table, at the end), metrics.json (final evaluation), model.pt (final
// weights, loadable by torch.load in Python), best_model.pt + best.json (the
// evaluated model at its best val mIoU, with data.val).
TrainResult train(const RunConfig& config, const TrainOptions& options = {});

// Checks the config and the data trees (every dataset opens, labels where needed)
// without training; returns a human summary. Throws Error on the first problem.
std::string dry_run(const RunConfig& config);

}  // namespace segtransfer
