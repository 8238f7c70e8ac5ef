#include <iostream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/comparison.h"

namespace segtransfer::cli {

void add_compare_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> rows;
    std::string output;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "compare", "one Markdown table over finished runs: mIoU mean ± spread over seeds, training time, per-class IoU");
  cmd->add_option("rows", args->rows, "LABEL=RUN[,RUN...]: a table row and its runs (seeds); a RUN is a run folder "
                                      "or a metrics JSON file from `eval --json`")
      ->required();
  cmd->add_option("-o,--output", args->output, "also write the table to this file");
  cmd->footer(
      "Example:\n"
      "  segtransfer compare \"black box=runs/bb.json\" \"plain=runs/plain_s0,runs/plain_s1,runs/plain_s2\" \\\n"
      "                      \"CoRTe=runs/corte_s0,runs/corte_s1,runs/corte_s2\"");
  cmd->callback([args] {
    std::vector<ComparisonRow> rows;
    for (const std::string& text : args->rows) {
      const size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        throw Error("compare: row '" + text + "' must look like LABEL=RUN[,RUN...]");
      ComparisonRow row{text.substr(0, eq), {}};
      for (size_t begin = eq + 1; begin <= text.size();) {
        const size_t comma = std::min(text.find(',', begin), text.size());
        if (comma > begin) row.runs.push_back(read_run_summary(text.substr(begin, comma - begin)));
        begin = comma + 1;
      }
      rows.push_back(std::move(row));
    }
    const std::string table = format_markdown_comparison(rows);
    std::cout << table;
    if (!args->output.empty()) write_text_atomically(args->output, table);
  });
}

}  // namespace segtransfer::cli
