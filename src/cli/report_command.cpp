#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "eval/report.h"

namespace segtransfer::cli {

void add_report_command(CLI::App& app) {
  struct Args {
    std::string run;
    ReportOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "report",
      "(re)write a run's report.html: curves, per-class IoU (against a baseline run), pseudo-labels, predictions");
  cmd->add_option("--run", args->run, "the training run folder")->required();
  cmd->add_option("--baseline", args->options.baseline_dir, "a finished run to compare per-class IoU with");
  cmd->add_option("--baseline-label", args->options.baseline_label, "its name in the report (default: baseline)");
  cmd->footer(
      "Every training run writes report.html itself; this rewrites it, e.g. with a baseline:\n"
      "  segtransfer report --run runs/demo/corte --baseline runs/demo/plain_distill --baseline-label \"plain "
      "distillation\"\n"
      "The file is self-contained (plots embedded): open it in any browser, offline.");
  cmd->callback([args] { spdlog::info("wrote {}", write_run_report(args->run, args->options)); });
}

}  // namespace segtransfer::cli
