#include <iostream>

#include "cli/commands.h"
#include "engine/trainer.h"

namespace segtransfer::cli {

void add_train_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string output;
    bool resume = false, dry = false;
    int64_t stop_at = -1;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "train a model with a method from a YAML config");
  args->config.add_to(*cmd, /*allow_run_dir=*/false);
  cmd->add_option("-o,--output", args->output, "run folder (overrides the config's 'output')");
  cmd->add_flag("--resume", args->resume, "continue from <output>/checkpoint.pt (exactly: same result as no stop)");
  cmd->add_flag("--dry-run", args->dry, "check the config and the data trees, then stop");
  cmd->add_option("--stop-at", args->stop_at, "stop with a checkpoint after this iteration (resume later)");
  cmd->footer(
      "Examples:\n"
      "  segtransfer train -c configs/synth_source_only.yaml\n"
      "  segtransfer train -c cfg.yaml --set train.iterations=2000 --set model.name=espnet -o runs/espnet\n"
      "  segtransfer train -c cfg.yaml --resume");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    if (!args->output.empty()) {
      cfg.output = args->output;
      cfg.tree["output"] = args->output;
    }
    if (args->dry) {
      std::cout << dry_run(cfg);
      return;
    }
    TrainResult r = train(cfg, TrainOptions{args->resume, args->stop_at});
    if (r.eval) std::cout << format_table(*r.eval, "validation (" + cfg.data.val.root + ")");
    std::cout << fmt::format("{} iterations in {:.1f} min; run folder {}\n", r.iterations, r.seconds / 60, cfg.output);
  });
}

}  // namespace segtransfer::cli
