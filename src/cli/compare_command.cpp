#include <cmath>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "eval/comparison.h"
#include "eval/plot.h"

namespace segtransfer::cli {
namespace {

// "LABEL=A,B" → ("LABEL", {"A", "B"}), splitting the part after '=' at `separator`.
std::pair<std::string, std::vector<std::string>> split_row(const std::string& text, char separator,
                                                           const std::string& shape) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw Error("row '" + text + "' must look like " + shape);
  std::vector<std::string> parts;
  for (size_t begin = eq + 1; begin <= text.size();) {
    const size_t end = std::min(text.find(separator, begin), text.size());
    if (end > begin) parts.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return {text.substr(0, eq), parts};
}

std::vector<RunSummary> read_runs(const std::vector<std::string>& dirs) {
  std::vector<RunSummary> runs;
  for (const auto& d : dirs) runs.push_back(read_run_summary(d));
  return runs;
}

}  // namespace

void add_compare_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> rows;
    std::string output;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "compare", "one Markdown table over finished runs: mIoU mean ± spread over seeds, training time, per-class IoU");
  cmd->add_option("rows", args->rows,
                  "LABEL=RUN[,RUN...]: a table row and its runs (seeds); a RUN is a run folder "
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
      auto [label, dirs] = split_row(text, ',', "LABEL=RUN[,RUN...]");
      rows.push_back({label, read_runs(dirs)});
    }
    const std::string table = format_markdown_comparison(rows);
    std::cout << table;
    if (!args->output.empty()) write_text_atomically(args->output, table);
  });
}

}  // namespace segtransfer::cli

namespace segtransfer::cli {

void add_curve_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> rows;
    std::string output, title = "target val mIoU against training time", x_label = "training minutes";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("curve", "plot mIoU against training minutes over finished runs (a PNG)");
  cmd->add_option("rows", args->rows,
                  "LABEL=POINT[,POINT...]: a line and its points; a POINT is RUN[+RUN...][@X], "
                  "runs (seeds) averaged into one point with a spread bar, at X when given "
                  "(every point then needs one), else at the runs' training minutes")
      ->required();
  cmd->add_option("-o,--output", args->output, "the PNG to write")->required();
  cmd->add_option("--title", args->title, "the plot's title");
  cmd->add_option("--x-label", args->x_label, "the x axis' name (with @X points: what X counts)");
  cmd->footer(
      "Examples (three budgets, two seeds each; mIoU against the requests a student's store cost):\n"
      "  segtransfer curve \"CoRTe=r/c5_s0+r/c5_s1,r/c20_s0+r/c20_s1,r/c60_s0+r/c60_s1\" -o curve.png\n"
      "  segtransfer curve \"k-centre=r/k25@92,r/k50@184,r/all@367\" --x-label requests -o budget.png");
  cmd->callback([args] {
    std::vector<PlotSeries> series;
    std::string miou_name;
    std::optional<bool> explicit_x;  // every point has its @X, or none has: one axis, one meaning
    for (const std::string& text : args->rows) {
      auto [label, points] = split_row(text, ',', "LABEL=RUN[+RUN...][@X][,RUN[+RUN...][@X]...]");
      PlotSeries line{label, {}, {}, {}};
      for (std::string point : points) {
        std::optional<double> at;
        if (const size_t sign = point.rfind('@'); sign != std::string::npos) {
          const std::string x_text = point.substr(sign + 1);
          size_t used = 0;
          try {
            at = std::stod(x_text, &used);
          } catch (const std::logic_error&) {
          }
          if (!at || used != x_text.size() || !std::isfinite(*at))
            throw Error("curve point '" + point + "': '@" + x_text + "' is not a number");
          point.resize(sign);
        }
        if (explicit_x && *explicit_x != at.has_value())
          throw Error("curve point '" + point + "': give every point an @X or none");
        explicit_x = at.has_value();
        const auto runs = read_runs(split_row("p=" + point, '+', "RUN[+RUN...][@X]").second);
        std::vector<double> minutes, mious;
        for (const auto& r : runs) {
          if (!at && r.train_seconds <= 0)
            throw Error(r.dir + " logged no training time (metrics.jsonl): give its point an @X");
          minutes.push_back(r.train_seconds / 60);
          mious.push_back(100 * r.eval.miou);
          miou_name = fmt::format("mIoU{} (%)", r.eval.classes.size());
        }
        const auto [x, x_spread] = mean_and_spread(minutes);
        const auto [y, y_spread] = mean_and_spread(mious);
        line.x.push_back(at.value_or(x));
        line.y.push_back(y);
        line.y_spread.push_back(y_spread);
      }
      series.push_back(std::move(line));
    }
    const cv::Mat plot = draw_line_plot(series, {args->title, args->x_label, miou_name});
    write_png_atomically(args->output, plot);
    spdlog::info("wrote {}", args->output);
  });
}

}  // namespace segtransfer::cli
