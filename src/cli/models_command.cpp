#include <iostream>

#include "cli/commands.h"
#include "models/model_table.h"

namespace segtransfer::cli {

void add_models_command(CLI::App& app) {
  struct Args {
    int classes = 19;
    std::string size = "1024x512";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("models", "list the networks with parameter counts and FLOPs");
  cmd->add_option("--classes", args->classes, "number of classes")->check(CLI::PositiveNumber);
  cmd->add_option("--size", args->size, "input size WxH for the FLOP count");
  cmd->footer("Examples:\n  segtransfer models\n  segtransfer models --classes 11 --size 480x360   # CamVid");
  cmd->callback([args] {
    auto [w, h] = parse_size(args->size, "--size");
    std::cout << model_table(args->classes, w, h);
  });
}

}  // namespace segtransfer::cli
