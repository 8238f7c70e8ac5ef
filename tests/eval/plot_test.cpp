#include "eval/plot.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::contains;
using segtransfer::testing::error_of;

namespace {

// Pixels of exactly this BGR colour.
int pixels_of(const cv::Mat& img, const cv::Scalar& colour) {
  cv::Mat mask;
  cv::inRange(img, colour, colour, mask);
  return cv::countNonZero(mask);
}

}  // namespace

TEST(Plot, DrawsEverySeriesInItsColour) {
  const std::vector<PlotSeries> series{{"plain", {5, 20, 60}, {10, 14, 16}, {}},
                                       {"CoRTe", {5, 20, 60}, {11, 16, 19}, {0.5, 0.4, 0.3}}};
  const cv::Mat img = draw_line_plot(series, {"mIoU against minutes", "minutes", "mIoU (%)", cv::Size(640, 400)});
  EXPECT_EQ(img.size(), cv::Size(640, 400));
  EXPECT_EQ(img.type(), CV_8UC3);
  // Markers and lines of both series are there (the markers alone are > 3 · 60 pixels each).
  EXPECT_GT(pixels_of(img, series_colour(0)), 200);
  EXPECT_GT(pixels_of(img, series_colour(1)), 200);
  EXPECT_NE(series_colour(0), series_colour(1));
  // The higher curve is drawn higher: CoRTe's last marker sits above plain's.
  auto topmost_row_of = [&](const cv::Scalar& colour, int x_from) {
    for (int y = 0; y < img.rows; ++y)
      for (int x = x_from; x < img.cols; ++x)
        if (img.at<cv::Vec3b>(y, x) == cv::Vec3b(colour[0], colour[1], colour[2])) return y;
    return img.rows;
  };
  EXPECT_LT(topmost_row_of(series_colour(1), 500), topmost_row_of(series_colour(0), 500));
}

TEST(Plot, OnePointAndBadSeries) {
  EXPECT_NO_THROW(draw_line_plot({{"one", {3}, {7}, {}}}, {}));
  EXPECT_TRUE(contains(error_of([] { draw_line_plot({{"bad", {1, 2}, {1}, {}}}, {}); }), "'bad'"));
  EXPECT_TRUE(contains(error_of([] { draw_line_plot({{"empty", {}, {}, {}}}, {}); }), "no points"));
}

TEST(Plot, BarChartDrawsEachSeriesAndChecksLengths) {
  const std::vector<std::string> classes{"road", "sidewalk", "car"};
  const std::vector<BarSeries> bars{{"CoRTe", {80, 40, 60}}, {"plain", {70, 45, std::nan("")}}};
  const cv::Mat img = draw_bar_chart(classes, bars, {"per-class IoU", "", "IoU (%)", cv::Size(700, 400)});
  EXPECT_EQ(img.size(), cv::Size(700, 400));
  // The taller series covers more pixels; a NaN draws no bar.
  EXPECT_GT(pixels_of(img, series_colour(0)), pixels_of(img, series_colour(1)));
  EXPECT_GT(pixels_of(img, series_colour(1)), 1000);
  EXPECT_TRUE(contains(error_of([&] { draw_bar_chart(classes, {{"short", {1, 2}}}, {}); }), "2 values for 3"));
}
