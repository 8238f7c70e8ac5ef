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
};

// BGR image of the series as lines with markers (and spread bars), axes with
// round-number ticks, a grid and a legend. Throws Error when a series' x, y (and
// spread) differ in length or no series has a point.
cv::Mat draw_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& options);

// The distinct colour of series `index` (BGR), shared by plots and bar charts.
cv::Scalar series_colour(size_t index);

}  // namespace segtransfer
