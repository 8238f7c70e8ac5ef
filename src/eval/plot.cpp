#include "eval/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace segtransfer {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kInk(40, 40, 40), kGrid(225, 225, 225), kWhite(255, 255, 255);

// About `target` round steps (1, 2 or 5 × 10^k) covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int target = 6) {
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push_back(std::abs(v) < 1e-12 ? 0 : v);
  return out;
}

std::string tick_text(double v) {
  return std::abs(v - std::round(v)) < 1e-9 ? fmt::format("{:.0f}", v) : fmt::format("{:g}", v);
}

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour, int thickness = 1) {
  cv::putText(img, s, at, kFont, scale, colour, thickness, cv::LINE_AA);
}

cv::Size text_size(const std::string& s, double scale, int thickness = 1) {
  int baseline = 0;
  return cv::getTextSize(s, kFont, scale, thickness, &baseline);
}

}  // namespace

cv::Scalar series_colour(size_t index) {
  // Tableau's ten colours, BGR.
  static const cv::Scalar kColours[] = {{180, 119, 31},  {14, 127, 255}, {44, 160, 44},   {40, 39, 214},
                                        {189, 103, 148}, {75, 86, 140},  {194, 119, 227}, {127, 127, 127},
                                        {34, 189, 188},  {207, 190, 23}};
  return kColours[index % 10];
}

cv::Mat draw_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& o) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size() || (!s.y_spread.empty() && s.y_spread.size() != s.y.size()))
      throw Error(fmt::format("plot: series '{}' has {} x, {} y and {} spread values", s.label, s.x.size(), s.y.size(),
                              s.y_spread.size()));
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double spread = s.y_spread.empty() || !std::isfinite(s.y_spread[i]) ? 0 : s.y_spread[i];
      x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, s.y[i] - spread), y_hi = std::max(y_hi, s.y[i] + spread);
    }
  }
  if (!std::isfinite(x_lo)) throw Error("plot: no points to draw");
  // Always some room around the data, and a non-empty range.
  // The y padding follows the data's scale, so that a learning rate of 1e-4 is not flattened.
  const double y_span = y_hi - y_lo, y_scale = std::max(std::abs(y_lo), std::abs(y_hi));
  const double x_pad = std::max((x_hi - x_lo) * 0.05, 0.5);
  const double y_pad = y_span > 0 ? std::max(y_span * 0.08, 1e-12) : std::max(y_scale * 0.1, 0.5);
  x_lo -= x_pad, x_hi += x_pad, y_lo -= y_pad, y_hi += y_pad;
  if (x_lo < 0 && x_lo + x_pad >= 0) x_lo = 0;
  if (y_lo < 0 && y_lo + y_pad >= 0) y_lo = 0;

  cv::Mat img(o.size, CV_8UC3, kWhite);
  const int legend = o.legend_width > 0 ? o.legend_width + 10 : 0;
  const cv::Rect area(80, 50, o.size.width - 80 - 30 - legend, o.size.height - 50 - 70);
  auto px = [&](double x) { return area.x + static_cast<int>(std::lround((x - x_lo) / (x_hi - x_lo) * area.width)); };
  auto py = [&](double y) {
    return area.y + area.height - static_cast<int>(std::lround((y - y_lo) / (y_hi - y_lo) * area.height));
  };

  for (double v : ticks(x_lo, x_hi)) {
    cv::line(img, {px(v), area.y}, {px(v), area.y + area.height}, kGrid, 1);
    const std::string s = tick_text(v);
    text(img, s, {px(v) - text_size(s, 0.45).width / 2, area.y + area.height + 20}, 0.45, kInk);
  }
  for (double v : ticks(y_lo, y_hi)) {
    cv::line(img, {area.x, py(v)}, {area.x + area.width, py(v)}, kGrid, 1);
    const std::string s = tick_text(v);
    text(img, s, {area.x - 8 - text_size(s, 0.45).width, py(v) + 5}, 0.45, kInk);
  }
  cv::rectangle(img, area, kInk, 1);
  text(img, o.title, {area.x, 30}, 0.65, kInk, 2);
  text(img, o.x_label, {area.x + area.width / 2 - text_size(o.x_label, 0.5).width / 2, o.size.height - 20}, 0.5, kInk);
  // The y label sits above the axis (Hershey text cannot be rotated).
  text(img, o.y_label, {10, area.y - 10}, 0.5, kInk);

  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const cv::Scalar colour = series_colour(k);
    std::vector<size_t> order(s.x.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    for (size_t j = 0; j + 1 < order.size(); ++j)
      cv::line(img, {px(s.x[order[j]]), py(s.y[order[j]])}, {px(s.x[order[j + 1]]), py(s.y[order[j + 1]])}, colour, 2,
               cv::LINE_AA);
    for (size_t i : order) {
      const cv::Point p(px(s.x[i]), py(s.y[i]));
      if (!s.y_spread.empty() && std::isfinite(s.y_spread[i]) && s.y_spread[i] > 0) {
        const int top = py(s.y[i] + s.y_spread[i]), bottom = py(s.y[i] - s.y_spread[i]);
        cv::line(img, {p.x, top}, {p.x, bottom}, colour, 1, cv::LINE_AA);
        cv::line(img, {p.x - 5, top}, {p.x + 5, top}, colour, 1, cv::LINE_AA);
        cv::line(img, {p.x - 5, bottom}, {p.x + 5, bottom}, colour, 1, cv::LINE_AA);
      }
      if (o.markers) cv::circle(img, p, 5, colour, cv::FILLED, cv::LINE_AA);
    }
    // Legend, top left inside the plot area, or in its own column.
    const cv::Point at = legend ? cv::Point(area.x + area.width + 16, area.y + 12 + 20 * static_cast<int>(k))
                                : cv::Point(area.x + 12, area.y + 22 + 22 * static_cast<int>(k));
    cv::line(img, {at.x, at.y - 5}, {at.x + 24, at.y - 5}, colour, 3, cv::LINE_AA);
    text(img, s.label, {at.x + 32, at.y}, 0.5, kInk);
  }
  return img;
}

cv::Mat draw_bar_chart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                       const PlotOptions& o) {
  double hi = 0;
  for (const auto& s : series) {
    if (s.values.size() != categories.size())
      throw Error(fmt::format("bar chart: series '{}' has {} values for {} categories", s.label, s.values.size(),
                              categories.size()));
    for (double v : s.values)
      if (std::isfinite(v)) hi = std::max(hi, v);
  }
  if (categories.empty() || series.empty()) throw Error("bar chart: nothing to draw");
  hi = hi > 0 ? hi * 1.12 : 1;
  cv::Mat img(o.size, CV_8UC3, kWhite);
  const cv::Rect area(80, 50 + 22 * static_cast<int>(series.size()), o.size.width - 80 - 30,
                      o.size.height - 50 - 22 * static_cast<int>(series.size()) - 110);
  auto py = [&](double y) { return area.y + area.height - static_cast<int>(std::lround(y / hi * area.height)); };
  for (double v : ticks(0, hi)) {
    cv::line(img, {area.x, py(v)}, {area.x + area.width, py(v)}, kGrid, 1);
    const std::string s = tick_text(v);
    text(img, s, {area.x - 8 - text_size(s, 0.45).width, py(v) + 5}, 0.45, kInk);
  }
  const double group = static_cast<double>(area.width) / categories.size();
  const double bar = group * 0.8 / series.size();
  for (size_t c = 0; c < categories.size(); ++c) {
    const double left = area.x + c * group + group * 0.1;
    for (size_t k = 0; k < series.size(); ++k) {
      const double v = series[k].values[c];
      if (!std::isfinite(v)) continue;
      const int x0 = static_cast<int>(left + k * bar),
                x1 = std::max(x0 + 1, static_cast<int>(left + (k + 1) * bar) - 1);
      cv::rectangle(img, cv::Point(x0, py(v)), cv::Point(x1, py(0)), series_colour(k), cv::FILLED);
      const std::string s = fmt::format("{:.0f}", v);
      if (bar >= 14) text(img, s, {(x0 + x1) / 2 - text_size(s, 0.35).width / 2, py(v) - 4}, 0.35, kInk);
    }
    // Category names run upwards under the axis: Hershey text cannot rotate, so each
    // name is drawn on its own strip and the strip is rotated.
    const std::string& name = categories[c];
    const cv::Size ts = text_size(name, 0.45);
    cv::Mat strip(ts.height + 8, ts.width + 4, CV_8UC3, kWhite);
    text(strip, name, {2, ts.height + 2}, 0.45, kInk);
    cv::Mat rotated;
    cv::rotate(strip, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int cx = static_cast<int>(area.x + c * group + group / 2) - rotated.cols / 2;
    const cv::Rect dst(cx, area.y + area.height + 6, rotated.cols, rotated.rows);
    const cv::Rect fit = dst & cv::Rect(0, 0, img.cols, img.rows);
    if (fit.area() > 0) rotated(cv::Rect(fit.x - dst.x, 0, fit.width, fit.height)).copyTo(img(fit));
  }
  cv::rectangle(img, area, kInk, 1);
  text(img, o.title, {area.x, 30}, 0.65, kInk, 2);
  text(img, o.y_label, {10, area.y - 10}, 0.5, kInk);
  for (size_t k = 0; k < series.size(); ++k) {
    const cv::Point at(area.x + 12 + 0, 52 + 22 * static_cast<int>(k));
    cv::rectangle(img, cv::Rect(at.x, at.y - 12, 24, 12), series_colour(k), cv::FILLED);
    text(img, series[k].label, {at.x + 32, at.y}, 0.5, kInk);
  }
  return img;
}

}  // namespace segtransfer
