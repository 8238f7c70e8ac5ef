#include <iostream>

#include "cli/commands.h"
#include "methods/method.h"

namespace segtransfer::cli {

void add_config_command(CLI::App& app) {
  auto opts = std::make_shared<ConfigOptions>();
  auto defaults = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("config", "print the default config schema, or validate and print a merged config");
  opts->add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_flag("--defaults", *defaults, "print every accepted key with its default");
  cmd->footer(
      "Examples:\n"
      "  segtransfer config --defaults                       # every key, its default and what it means\n"
      "  segtransfer config -c configs/synth_corte.yaml --set train.iterations=500   # the merged result\n"
      "  segtransfer config --run runs/demo/corte            # what a finished run was trained with");
  cmd->callback([opts, defaults] {
    if (*defaults) {
      std::cout << default_config_yaml();
      return;
    }
    const RunConfig config = opts->load();
    method_entry(config.method).check_options(config);  // a bad method switch fails here, not an hour into a run
    std::cout << dump_config(config);
  });
}

}  // namespace segtransfer::cli
