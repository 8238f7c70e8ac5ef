#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "engine/local_launch.h"
#include "engine/trainer.h"

namespace segtransfer::cli {

void add_train_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string output, resume_from, load_from;
    bool resume = false, dry = false;
    int64_t stop_at = -1;
    int nproc = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "train a model with a method from a YAML config");
  args->config.add_to(*cmd, /*allow_run_dir=*/false);
  cmd->add_option("-o,--output", args->output, "run folder (overrides the config's 'output')");
  cmd->add_flag("--resume", args->resume, "continue from <output>/checkpoint.pt (exactly: same result as no stop)");
  cmd->add_option("--resume-from", args->resume_from,
                  "continue from this checkpoint.pt (weights, optimizer, iteration), writing to the output folder")
      ->check(CLI::ExistingFile);
  cmd->add_option("--load-from", args->load_from,
                  "start from these weights only (a run's model.pt or best_model.pt, or a PyTorch state_dict): "
                  "the same as --set model.init=PATH")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--dry-run", args->dry, "check the config and the data trees, then stop");
  cmd->add_option("--stop-at", args->stop_at, "stop with a checkpoint after this iteration (resume later)");
  cmd->add_option("--nproc", args->nproc,
                  "data-parallel on this machine: start N processes, each with train.batch_size "
                  "(several machines: set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT yourself, docs/distributed.md)")
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "Examples:\n"
      "  segtransfer train -c configs/synth_source_only.yaml\n"
      "  segtransfer train -c cfg.yaml --set train.iterations=2000 --set model.name=espnet -o runs/espnet\n"
      "  segtransfer train -c cfg.yaml --resume\n"
      "  segtransfer train -c cfg.yaml --resume-from runs/a/checkpoint.pt -o runs/b   # branch a run\n"
      "  segtransfer train -c cfg.yaml --load-from runs/source_only/best_model.pt     # weights only\n"
      "  segtransfer train -c cfg.yaml --nproc 2   # two processes, gradients averaged (c10d Gloo)");
  cmd->callback([args] {
    if (!args->load_from.empty()) args->config.overrides.push_back("model.init=" + args->load_from);
    RunConfig cfg = args->config.load();
    if (!args->output.empty()) {
      cfg.output = args->output;
      cfg.tree["output"] = args->output;
    }
    if (args->nproc > 0) {
      if (std::getenv("WORLD_SIZE")) throw Error("--nproc starts its own processes: do not also set WORLD_SIZE");
      std::vector<std::string> child{"train"};
      if (!args->config.config_file.empty()) child.insert(child.end(), {"-c", args->config.config_file});
      for (const auto& o : args->config.overrides) child.insert(child.end(), {"--set", o});
      if (!args->output.empty()) child.insert(child.end(), {"-o", args->output});
      if (args->resume) child.push_back("--resume");
      if (!args->resume_from.empty()) child.insert(child.end(), {"--resume-from", args->resume_from});
      if (args->dry) child.push_back("--dry-run");
      if (args->stop_at >= 0) child.insert(child.end(), {"--stop-at", std::to_string(args->stop_at)});
      if (const int code = run_local_processes(args->nproc, child); code != 0)
        throw Error(fmt::format("train --nproc {}: a process failed (exit code {})", args->nproc, code));
      return;
    }
    if (args->dry) {
      std::cout << dry_run(cfg);
      return;
    }
    TrainResult r = train(cfg, TrainOptions{args->resume, args->stop_at, args->resume_from});
    if (const char* rank = std::getenv("RANK"); rank && std::string(rank) != "0") return;  // rank 0 reports
    if (r.eval) std::cout << format_table(*r.eval, "validation (" + cfg.data.val.root + ")");
    std::cout << fmt::format("{} iterations in {:.1f} min; run folder {}\n", r.iterations, r.seconds / 60, cfg.output);
  });
}

}  // namespace segtransfer::cli
