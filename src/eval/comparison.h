// Tables over finished runs, as papers print them: one row per method, the mean
// and spread of its seeds' mIoU, per-class IoU and training time.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "eval/metrics.h"

namespace segtransfer {

// What a finished run folder says of itself: its final evaluation (metrics.json)
// and, from metrics.jsonl, its last iteration and training-loop seconds.
struct RunSummary {
  std::string dir;
  EvalResult eval;
  int64_t iterations = 0;
  double train_seconds = 0;  // 0 when the run logged none (an evaluation-only folder)
  double peak_rss_mib = 0;   // the largest peak resident memory its training processes logged (0: none)
};

// Reads `dir`/metrics.json (or `dir` itself when it is a JSON file written by
// `segtransfer eval --json`). Throws Error naming the file when it is missing or
// not a metrics file.
RunSummary read_run_summary(const std::string& dir);

// Parses the JSON that to_json(EvalResult) writes; `what` names its file in errors.
EvalResult eval_result_from_json(const std::string& text, const std::string& what);

// Mean and sample standard deviation of the finite values; NaN spread for one
// value, both NaN for none.
std::pair<double, double> mean_and_spread(const std::vector<double>& values);

struct ComparisonRow {
  std::string label;
  std::vector<RunSummary> runs;  // seeds of one method
};

// A Markdown table: row label, number of runs, mIoU as mean ± sample standard
// deviation, mean training minutes and iterations, then the mean IoU of every
// scored class. Every run must score the same classes of the same label space.
std::string format_markdown_comparison(const std::vector<ComparisonRow>& rows);

}  // namespace segtransfer
