#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "engine/runtime.h"
#include "models/torchscript_export.h"

namespace segtransfer::cli {

void add_export_command(CLI::App& app) {
  struct Args {
    ConfigOptions config;
    std::string weights, output, size = "";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "write a trained model as a TorchScript file (e.g. to serve it as a black box)");
  args->config.add_to(*cmd, /*allow_run_dir=*/true);
  cmd->add_option("-w,--weights", args->weights, "model weights (default: <run>/model.pt)");
  cmd->add_option("-o,--output", args->output, "the TorchScript file to write")->required();
  cmd->add_option("--size", args->size, "input size WxH the file is traced at (required)")->required();
  cmd->footer("Example:\n  segtransfer export --run runs/demo/source_only -o black_box.pt --size 320x160");
  cmd->callback([args] {
    RunConfig cfg = args->config.load();
    configure_threads(cfg.train.threads);
    auto model = load_trained_model(cfg, args->config.run_dir, args->weights, torch::kCPU);
    auto [w, h] = parse_size(args->size, "--size");
    export_torchscript(*model, cv::Size(w, h), args->output);
    spdlog::info("wrote {} (TorchScript, traced at {}x{}: outputs logits (1, {}, {}, {}))", args->output, w, h,
                 model->num_classes(), h, w);
  });
}

}  // namespace segtransfer::cli
