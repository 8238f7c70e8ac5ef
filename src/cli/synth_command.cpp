#include <iostream>

#include "cli/commands.h"
#include "data/synthetic.h"

namespace segtransfer::cli {

void add_synth_command(CLI::App& app) {
  struct Args {
    SynthOptions o;
    std::string size = "320x160";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "synth", "generate the two-domain synthetic benchmark (source: GTA5 layout, target: Cityscapes layout)");
  cmd->add_option("-o,--out", args->o.out, "output root (source/ and target/ are written below it)")->required();
  cmd->add_option("--size", args->size, "image size WxH");
  cmd->add_option("--source-train", args->o.source_train, "source training images");
  cmd->add_option("--source-val", args->o.source_val, "source validation images");
  cmd->add_option("--target-train", args->o.target_train,
                  "target training images (labels written too, for the oracle)");
  cmd->add_option("--target-val", args->o.target_val, "target validation images");
  cmd->add_option("--seed", args->o.seed, "seed (same seed, same files)");
  cmd->add_option("--threads", args->o.threads, "generator threads");
  cmd->footer("Example:\n  segtransfer synth -o data/synth --size 320x160 --source-train 600 --target-train 600");
  cmd->callback([args] {
    auto [w, h] = parse_size(args->size, "--size");
    args->o.size = cv::Size(w, h);
    write_synthetic_benchmark(args->o);
    std::cout << "wrote " << args->o.out << "/source (GTA5 layout) and " << args->o.out
              << "/target (Cityscapes layout)\n";
  });
}

}  // namespace segtransfer::cli
