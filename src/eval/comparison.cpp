#include "eval/comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string percent(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.1f}", 100 * v); }

}  // namespace

std::pair<double, double> mean_and_spread(const std::vector<double>& values) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  if (v.empty()) return {kNaN, kNaN};
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  if (v.size() == 1) return {mean, kNaN};
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  return {mean, std::sqrt(squares / static_cast<double>(v.size() - 1))};
}

EvalResult eval_result_from_json(const std::string& text, const std::string& what) {
  EvalResult r;
  try {
    const auto j = nlohmann::ordered_json::parse(text);
    auto number = [](const nlohmann::ordered_json& v) { return v.is_null() ? kNaN : v.get<double>(); };
    r.protocol = j.at("protocol").get<std::string>();
    r.classes = j.at("classes").get<std::vector<int>>();
    for (const auto& [name, iou] : j.at("iou").items()) {
      r.names.push_back(name);
      r.iou.push_back(number(iou));
    }
    r.miou = number(j.at("miou"));
    r.pixel_accuracy = number(j.at("pixel_accuracy"));
    r.images = j.at("images").get<int64_t>();
    r.seconds = j.value("seconds", 0.0);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{} is not a metrics file written by segtransfer train/eval: {}", what, e.what()));
  }
  for (int c : r.classes)
    if (c < 0 || c >= static_cast<int>(r.names.size()))
      throw Error(fmt::format("{}: scored class index {} is outside its {} classes", what, c, r.names.size()));
  return r;
}

RunSummary read_run_summary(const std::string& dir) {
  RunSummary s;
  s.dir = dir;
  const bool is_file = fs::is_regular_file(dir);
  const fs::path metrics = is_file ? fs::path(dir) : fs::path(dir) / "metrics.json";
  if (!fs::exists(metrics))
    throw Error(
        fmt::format("{} has no metrics.json: not a finished run with data.val (run `segtransfer eval --run "
                    "{} --json {}/metrics.json`)",
                    dir, dir, dir));
  s.eval = eval_result_from_json(read_text_file(metrics), metrics.string());
  if (is_file) return s;
  std::ifstream log(fs::path(dir) / "metrics.jsonl");
  for (std::string line; std::getline(log, line);) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("elapsed_s")) s.train_seconds = j["elapsed_s"].get<double>();
      if (j.contains("iter")) s.iterations = std::max(s.iterations, j["iter"].get<int64_t>());
      if (j.contains("peak_rss_mib")) s.peak_rss_mib = std::max(s.peak_rss_mib, j["peak_rss_mib"].get<double>());
    } catch (const nlohmann::json::exception&) {
      // a line cut short by a kill says nothing
    }
  }
  return s;
}

std::string format_markdown_comparison(const std::vector<ComparisonRow>& rows) {
  const RunSummary* first = nullptr;
  for (const auto& row : rows) {
    if (row.runs.empty()) throw Error(fmt::format("comparison row '{}' has no runs", row.label));
    for (const auto& run : row.runs) {
      if (!first) first = &run;
      if (run.eval.names != first->eval.names || run.eval.classes != first->eval.classes)
        throw Error(
            fmt::format("{} scores other classes than {} (label space or --protocol differ)", run.dir, first->dir));
    }
  }
  if (!first) return "";
  const EvalResult& layout = first->eval;

  std::string out =
      fmt::format("| method | runs | mIoU{} | train min | iterations | peak MiB |", layout.classes.size());
  for (int c : layout.classes) out += " " + layout.names[c] + " |";
  out += "\n|---|---:|---:|---:|---:|---:|";
  for (size_t i = 0; i < layout.classes.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& row : rows) {
    std::vector<double> mious, minutes, iterations, peaks;
    for (const auto& run : row.runs) {
      mious.push_back(run.eval.miou);
      if (run.train_seconds > 0) minutes.push_back(run.train_seconds / 60);
      if (run.iterations > 0) iterations.push_back(static_cast<double>(run.iterations));
      if (run.peak_rss_mib > 0) peaks.push_back(run.peak_rss_mib);
    }
    const auto [miou, spread] = mean_and_spread(mious);
    const std::string miou_cell = std::isnan(spread) ? percent(miou) : percent(miou) + " ± " + percent(spread);
    const double mean_minutes = mean_and_spread(minutes).first, mean_iterations = mean_and_spread(iterations).first;
    const double peak = peaks.empty() ? NAN : *std::max_element(peaks.begin(), peaks.end());
    out += fmt::format("| {} | {} | {} | {} | {} | {} |", row.label, row.runs.size(), miou_cell,
                       std::isnan(mean_minutes) ? "-" : fmt::format("{:.1f}", mean_minutes),
                       std::isnan(mean_iterations) ? "-" : fmt::format("{:.0f}", mean_iterations),
                       std::isnan(peak) ? "-" : fmt::format("{:.0f}", peak));
    for (int c : layout.classes) {
      std::vector<double> per_run;
      for (const auto& run : row.runs) per_run.push_back(run.eval.iou[c]);
      out += " " + percent(mean_and_spread(per_run).first) + " |";
    }
    out += "\n";
  }
  return out;
}

}  // namespace segtransfer
