// The `segtransfer` command line: one CLI11 app with a subcommand per task.
#pragma once

namespace segtransfer {

// Parses and runs; returns the process exit code. Errors print one line on stderr.
int run_cli(int argc, char** argv);

}  // namespace segtransfer
