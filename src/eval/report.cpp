#include "eval/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/comparison.h"
#include "eval/plot.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

// Written here because none of the project's libraries exposes one (cpp-httplib's
// encoder is in its private detail namespace); 20 lines against RFC 4648.
std::string base64(const std::vector<uchar>& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    const uint32_t v = bytes[i] << 16 | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string image_tag(const cv::Mat& bgr, const std::string& alt) {
  std::vector<uchar> png;
  if (!cv::imencode(".png", bgr, png)) throw Error("report: cannot encode the image '" + alt + "'");
  return fmt::format(R"(<img alt="{}" src="data:image/png;base64,{}">)", escape_html(alt), base64(png));
}

std::vector<nlohmann::json> read_json_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
      throw Error(fmt::format("{}:{}: not a JSON line", path.string(), number));
    }
  }
  return lines;
}

// The keys of a training line that are not the method's scalars.
const std::set<std::string> kBookkeeping = {"iter",      "lr",           "it_per_s", "progress", "data_wait_share",
                                            "elapsed_s", "peak_rss_mib", "eval"};

struct Curves {
  std::map<std::string, PlotSeries> scalars;  // loss terms and method diagnostics, by name
  PlotSeries lr{"learning rate", {}, {}, {}};
  PlotSeries miou{"val mIoU", {}, {}, {}};
  double seconds = 0, peak_rss_mib = 0, last_it_per_s = 0;
  int64_t iterations = 0;
};

Curves read_curves(const fs::path& metrics) {
  Curves c;
  for (const auto& line : read_json_lines(metrics)) {
    const double iter = line.value("iter", 0.0);
    if (line.contains("eval")) {
      c.miou.x.push_back(iter);
      c.miou.y.push_back(100 * line["eval"].value("miou", 0.0));
      continue;
    }
    c.iterations = std::max<int64_t>(c.iterations, static_cast<int64_t>(iter));
    c.seconds = std::max(c.seconds, line.value("elapsed_s", 0.0));
    c.peak_rss_mib = std::max(c.peak_rss_mib, line.value("peak_rss_mib", 0.0));
    c.last_it_per_s = line.value("it_per_s", 0.0);
    if (line.contains("lr")) {
      c.lr.x.push_back(iter);
      c.lr.y.push_back(line["lr"].get<double>());
    }
    for (const auto& [key, value] : line.items()) {
      if (kBookkeeping.count(key) || !value.is_number()) continue;
      auto& s = c.scalars[key];
      s.label = key;
      s.x.push_back(iter);
      s.y.push_back(value.get<double>());
    }
  }
  return c;
}

std::string section(const std::string& title, const std::string& body) {
  return fmt::format("<section><h2>{}</h2>\n{}\n</section>\n", escape_html(title), body);
}
std::string missing(const std::string& why) { return "<p class=\"missing\">" + escape_html(why) + "</p>"; }

std::string curves_section(const Curves& c) {
  std::string body;
  std::vector<PlotSeries> losses, others;
  for (const auto& [name, s] : c.scalars) (name.find("loss") != std::string::npos ? losses : others).push_back(s);
  PlotOptions dense{"", "iteration", "", {900, 420}, /*markers=*/false};
  if (!losses.empty()) {
    dense.title = "training losses (mean per logging window)";
    dense.y_label = "loss";
    body += image_tag(draw_line_plot(losses, dense), "training losses");
  }
  if (!c.miou.x.empty()) {
    PlotOptions o{"validation mIoU during training", "iteration", "mIoU (%)", {900, 420}};
    body += image_tag(draw_line_plot({c.miou}, o), "validation mIoU");
  } else {
    body += missing("No validation during training (data.val not set, or train.eval_every past the end).");
  }
  if (!others.empty()) {
    dense.title = "method diagnostics";
    dense.y_label = "value";
    dense.legend_width = others.size() > 4 ? 170 : 0;
    body += image_tag(draw_line_plot(others, dense), "method diagnostics");
  }
  if (!c.lr.x.empty()) {
    dense.title = "learning rate";
    dense.y_label = "lr";
    dense.legend_width = 0;
    body += image_tag(draw_line_plot({c.lr}, dense), "learning rate");
  }
  return section("Training curves", body);
}

std::string iou_section(const fs::path& run, const ReportOptions& options) {
  if (!fs::exists(run / "metrics.json"))
    return section("Per-class IoU", missing("No metrics.json: the run has not finished or had no validation set."));
  const RunSummary summary = read_run_summary(run.string());
  const EvalResult& r = summary.eval;
  std::vector<std::string> names;
  BarSeries mine{"this run", {}};
  for (int c : r.classes) {
    names.push_back(r.names[c]);
    mine.values.push_back(100 * r.iou[c]);
  }
  std::vector<BarSeries> bars{mine};
  std::string table = "<table><tr><th>class</th><th>IoU (%)</th>";
  EvalResult base;
  const bool with_baseline = !options.baseline_dir.empty();
  if (with_baseline) {
    base = read_run_summary(options.baseline_dir).eval;
    if (base.classes != r.classes || base.names != r.names)
      throw Error("report: the baseline " + options.baseline_dir + " scores other classes than " + run.string());
    BarSeries theirs{options.baseline_label, {}};
    for (int c : r.classes) theirs.values.push_back(100 * base.iou[c]);
    bars.push_back(theirs);
    table += "<th>" + escape_html(options.baseline_label) + "</th><th>difference</th>";
  }
  table += "</tr>\n";
  // A class absent from the val images has no IoU (NaN): "n/a", as the text tables print it.
  auto cell = [](double v, const char* format) {
    return std::isfinite(v) ? fmt::format(fmt::runtime(format), 100 * v) : std::string("n/a");
  };
  for (int c : r.classes) {
    table += fmt::format("<tr><td>{}</td><td>{}</td>", escape_html(r.names[c]), cell(r.iou[c], "{:.1f}"));
    if (with_baseline)
      table +=
          fmt::format("<td>{}</td><td>{}</td>", cell(base.iou[c], "{:.1f}"), cell(r.iou[c] - base.iou[c], "{:+.1f}"));
    table += "</tr>\n";
  }
  table += fmt::format("<tr class=\"total\"><td>mIoU</td><td>{:.1f}</td>", 100 * r.miou);
  if (with_baseline)
    table += fmt::format("<td>{:.1f}</td><td>{:+.1f}</td>", 100 * base.miou, 100 * (r.miou - base.miou));
  table += "</tr></table>";
  const std::string title = fmt::format("per-class IoU on {} val images (protocol {})", r.images, r.protocol);
  const cv::Mat chart = draw_bar_chart(names, bars, {title, "", "IoU (%)", {1100, 480}});
  return section("Per-class IoU", image_tag(chart, "per-class IoU") + table);
}

std::string pseudo_label_section(const fs::path& run) {
  const fs::path log = run / "diagnostics" / "pseudo_labels.jsonl";
  if (!fs::exists(log)) return "";  // a method without black-box pseudo-labels
  std::map<std::string, PlotSeries> thresholds, kept;
  std::vector<std::string> order;
  for (const auto& line : read_json_lines(log)) {
    const double iter = line.value("iter", 0.0);
    for (const auto& c : line.value("classes", nlohmann::json::array())) {
      const std::string name = c.value("class", std::string("?"));
      if (!thresholds.count(name)) order.push_back(name);
      auto& t = thresholds[name];
      auto& k = kept[name];
      t.label = k.label = name;
      t.x.push_back(iter);
      t.y.push_back(c.value("threshold", 0.0));
      k.x.push_back(iter);
      k.y.push_back(100 * c.value("kept_share", 0.0));
    }
  }
  std::string body;
  if (order.empty()) return section("Pseudo-labels (CoRTe)", missing(log.string() + " holds no class entries."));
  std::vector<PlotSeries> t_series, k_series;
  for (const auto& name : order) t_series.push_back(thresholds[name]), k_series.push_back(kept[name]);
  PlotOptions o{"relative-confidence threshold per class", "iteration", "threshold", {1000, 460}, true, 170};
  body += image_tag(draw_line_plot(t_series, o), "thresholds per class");
  o.title = "share of the black box's pixels kept as pseudo-labels, per class";
  o.y_label = "kept (%)";
  body += image_tag(draw_line_plot(k_series, o), "kept share per class");
  // The latest grid CoRTe wrote: image | black-box label | refined pseudo-label | student | truth.
  std::vector<fs::path> grids;
  for (const auto& e : fs::directory_iterator(run / "diagnostics"))
    if (e.path().extension() == ".png") grids.push_back(e.path());
  if (!grids.empty()) {
    std::sort(grids.begin(), grids.end());
    const cv::Mat grid = cv::imread(grids.back().string(), cv::IMREAD_COLOR);
    if (!grid.empty()) {
      body += "<p>" + escape_html(grids.back().filename().string()) +
              ": image | black-box label | refined pseudo-label | student | ground truth (when known)</p>";
      body += image_tag(grid, "pseudo-label grid");
    }
  }
  return section("Pseudo-labels (CoRTe)", body);
}

std::string qualitative_section(const fs::path& run) {
  // Checked first: OpenCV warns on stderr about a file it cannot open, and a run without a
  // validation set has none to open.
  const fs::path file = run / "qualitative.png";
  const cv::Mat grid = fs::exists(file) ? cv::imread(file.string(), cv::IMREAD_COLOR) : cv::Mat();
  if (grid.empty())
    return section("Predictions", missing("No qualitative.png (written at the end of a run with a validation set)."));
  return section("Predictions", "<p>First validation images: image | prediction | ground truth</p>" +
                                    image_tag(grid, "qualitative grid"));
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return text;
}

}  // namespace

std::string write_run_report(const std::string& run_dir, const ReportOptions& options) {
  const fs::path run(run_dir);
  const fs::path metrics = run / "metrics.jsonl";
  if (!fs::exists(metrics)) throw Error("report: " + run_dir + " has no metrics.jsonl (not a training run folder?)");
  const Curves curves = read_curves(metrics);
  const std::string config = fs::exists(run / "config.yaml") ? read_text_file(run / "config.yaml") : "";

  std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>segtransfer report: )" +
                     escape_html(run.filename().string()) + R"(</title>
<style>
body { font-family: sans-serif; max-width: 1150px; margin: 2em auto; color: #222; }
img { max-width: 100%; display: block; margin: 0.6em 0; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ccc; padding: 2px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; } tr.total { font-weight: bold; }
.missing { color: #a33; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 85%; }
</style></head><body>
)";
  html += fmt::format(
      "<h1>Run {}</h1>\n<p>{} iterations, {} of training ({:.2f} it/s at the end), peak memory {:.0f} MiB. "
      "Report written {}.</p>\n",
      escape_html(run.string()), curves.iterations, format_duration(curves.seconds), curves.last_it_per_s,
      curves.peak_rss_mib, today());
  html += curves_section(curves);
  html += iou_section(run, options);
  html += pseudo_label_section(run);
  html += qualitative_section(run);
  if (!config.empty()) html += section("Configuration", "<pre>" + escape_html(config) + "</pre>");
  // Counts the images that decoded, for a reader (and the browser test) to see at once.
  html += R"(<p id="image-check">checking images…</p>
<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  document.getElementById('image-check').textContent = (images.length - broken) + ' images shown, ' + broken + ' broken';
});
</script>
</body></html>
)";
  const fs::path path = run / "report.html";
  write_text_atomically(path, html);
  return path.string();
}

}  // namespace segtransfer
