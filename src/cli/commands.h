// Registration of each subcommand (one file each under src/cli/).
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/config.h"

namespace segtransfer::cli {

void add_synth_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_query_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_curve_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_audit_command(CLI::App& app);
void add_reliability_command(CLI::App& app);
void add_select_command(CLI::App& app);

// Options most commands share: --config FILE, --run DIR (reads DIR/config.yaml), --set k=v.
struct ConfigOptions {
  std::string config_file, run_dir;
  std::vector<std::string> overrides;
  void add_to(CLI::App& cmd, bool allow_run_dir);
  RunConfig load() const;
};

// "320x160" → (320, 160); throws Error naming the option otherwise.
std::pair<int, int> parse_size(const std::string& text, const std::string& option);

}  // namespace segtransfer::cli
