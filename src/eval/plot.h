// Line plots drawn with OpenCV (Hershey fonts are built in: no font files, no
// scripts), for the curves of docs/ and the run reports.
#pragma once
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace segtransfer {

struct PlotSeries {
  std::string label;
  std::vector<double> x, y;
  std::vector<double> y_spread;  // optional: ± bars, one per point
};

struct PlotOptions {
  std::string title, x_label, y_label;
  cv::Size size{900, 560};
  bool markers = true;   // a dot per point (off for dense curves such as losses)
  int legend_width = 0;  // > 0: the legend goes in a column this wide right of the plot (many series)
};

// BGR image of the series as lines with markers (and spread bars), axes with
// round-number ticks, a grid and a legend. Throws Error when a series' x, y (and
// spread) differ in length or no series has a point.
cv::Mat draw_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

struct BarSeries {
  std::string label;
  std::vector<double> values;  // one per category; NaN = no bar
};

// Grouped vertical bars, one group per category (names written under the axis,
// reading upwards), one bar per series, the value above each bar. Throws Error when a
// series' length differs from the categories'.
cv::Mat draw_bar_chart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                       const PlotOptions& options);

// The distinct colour of series `index` (BGR), shared by plots and bar charts.
cv::Scalar series_colour(size_t index);

}  // namespace segtransfer
