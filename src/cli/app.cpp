#include "cli/app.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "core/error.h"

namespace segtransfer {

namespace cli {

void ConfigOptions::add_to(CLI::App& cmd, bool allow_run_dir) {
  cmd.add_option("-c,--config", config_file, "YAML config file (keys: `segtransfer config --defaults`)");
  if (allow_run_dir) cmd.add_option("--run", run_dir, "a training run folder: uses its config.yaml and model.pt");
  cmd.add_option("--set", overrides, "override a config key, e.g. --set train.iterations=500 (repeatable)");
}

RunConfig ConfigOptions::load() const {
  if (!config_file.empty() && !run_dir.empty()) throw Error("give either --config or --run, not both");
  std::string path = config_file;
  if (!run_dir.empty()) {
    path = run_dir + "/config.yaml";
    if (!std::filesystem::exists(path)) throw Error("--run " + run_dir + ": no config.yaml there (not a run folder?)");
  }
  return load_config(path, overrides);
}

std::pair<int, int> parse_size(const std::string& text, const std::string& option) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w <= 0 || h <= 0)
    throw Error("option " + option + " must look like 320x160, not '" + text + "'");
  return {w, h};
}

}  // namespace cli

int run_cli(int argc, char** argv) {
  CLI::App app{
      "segtransfer: train small, fast segmentation students for an unlabelled target domain "
      "from a source model (black box or white box) and source data.",
      "segtransfer"};
  app.require_subcommand(1);
  // Every option's default is shown in --help (subcommands inherit this from the app).
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", "segtransfer 0.1.0");
  app.add_flag_function(
      "-v,--verbose", [](int64_t) { spdlog::set_level(spdlog::level::debug); }, "debug logging");
  app.add_flag_function(
      "-q,--quiet", [](int64_t) { spdlog::set_level(spdlog::level::warn); }, "warnings and errors only");
  app.footer(
      "Examples:\n"
      "  segtransfer demo                         # synthetic benchmark end to end (~9 min on 2 cores)\n"
      "  segtransfer train -c configs/synth_source_only.yaml\n"
      "  segtransfer eval --run runs/synth_source_only --set data.val.root=data/synth/target\n"
      "  segtransfer export --run runs/demo/corte -o student.onnx --size 320x160\n"
      "  segtransfer predict --onnx student.onnx --input images/ --out preds/\n"
      "Run 'segtransfer <command> --help' for a command's options; docs/tutorial.md for a first hour.");
  cli::add_demo_command(app);
  cli::add_synth_command(app);
  cli::add_select_command(app);
  cli::add_query_command(app);
  cli::add_train_command(app);
  cli::add_eval_command(app);
  cli::add_predict_command(app);
  cli::add_export_command(app);
  cli::add_compare_command(app);
  cli::add_curve_command(app);
  cli::add_report_command(app);
  cli::add_audit_command(app);
  cli::add_reliability_command(app);
  cli::add_serve_command(app);
  cli::add_models_command(app);
  cli::add_config_command(app);

  spdlog::set_pattern("[%H:%M:%S] %^%v%$");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    std::cerr << "error: " << msg.substr(0, msg.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace segtransfer
