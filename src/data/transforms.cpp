#include "data/transforms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/label_space.h"

namespace segtransfer {
namespace {

// Draws only when the outcome is uncertain, so p = 0 or 1 costs no randomness.
bool chance(double p, Rng& rng) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}

double uniform(double lo, double hi, Rng& rng) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

// mmseg's cat_max_ratio test: a crop is acceptable when it shows at least two
// classes and none covers `max_ratio` or more of its labelled (non-ignore) pixels.
bool crop_is_balanced(const cv::Mat& label_crop, double max_ratio) {
  cv::Mat histogram;
  const int channel = 0, bins = 256;
  const float range[] = {0, 256};
  const float* ranges[] = {range};
  cv::calcHist(&label_crop, 1, &channel, cv::Mat(), histogram, 1, &bins, ranges);
  histogram.at<float>(kIgnoreIndex) = 0;
  double largest = 0;
  cv::minMaxLoc(histogram, nullptr, &largest);
  const double labelled = cv::sum(histogram)[0];
  return cv::countNonZero(histogram) > 1 && largest / labelled < max_ratio;
}

// The crop `roi` of `m`, padded at the bottom/right with `fill` up to `size`
// (mmseg pads after cropping the same way). One copy at most.
cv::Mat crop_and_pad(const cv::Mat& m, cv::Rect roi, cv::Size size, const cv::Scalar& fill) {
  if (roi.size() == size) return roi.size() == m.size() ? m : m(roi).clone();
  cv::Mat out;
  cv::copyMakeBorder(m(roi), out, 0, size.height - roi.height, 0, size.width - roi.width, cv::BORDER_CONSTANT, fill);
  return out;
}

// The jitter steps of torchvision's / kornia's ColorJitter, on uint8 BGR in place.
void adjust_brightness(cv::Mat& image, double factor) { image.convertTo(image, -1, factor); }

void adjust_contrast(cv::Mat& image, double factor) {
  cv::Mat gray;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  const double mean = cv::mean(gray)[0];
  image.convertTo(image, -1, factor, (1 - factor) * mean);  // blend with the mean grey
}

void adjust_saturation(cv::Mat& image, double factor) {
  cv::Mat gray;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(gray, gray, cv::COLOR_GRAY2BGR);
  cv::addWeighted(image, factor, gray, 1 - factor, 0, image);  // blend with the grey image
}

// Rotates hue by `turns` of the colour circle (HSV_FULL maps the circle onto 0..255,
// so the rotation is a wrapping byte offset applied through a lookup table).
void adjust_hue(cv::Mat& image, double turns) {
  const int shift = static_cast<int>(std::lround(turns * 256));
  if (shift % 256 == 0) return;
  cv::Mat lut(1, 256, CV_8UC3);
  for (int i = 0; i < 256; ++i) {
    const auto v = static_cast<uint8_t>(i);
    lut.at<cv::Vec3b>(i) = cv::Vec3b(static_cast<uint8_t>((i + shift) & 255), v, v);
  }
  cv::Mat hsv;
  cv::cvtColor(image, hsv, cv::COLOR_BGR2HSV_FULL);
  cv::LUT(hsv, lut, hsv);
  cv::cvtColor(hsv, image, cv::COLOR_HSV2BGR_FULL);
}

}  // namespace

void write_normalised_rgb(const cv::Mat& bgr, const std::array<double, 3>& mean, const std::array<double, 3>& std,
                          float* out) {
  if (bgr.type() != CV_8UC3)
    throw Error(fmt::format("expected an 8-bit BGR image, got {}", cv::typeToString(bgr.type())));
  std::vector<cv::Mat> bgr_planes;
  cv::split(bgr, bgr_planes);
  const size_t plane_size = bgr.total();
  for (int c = 0; c < 3; ++c) {
    cv::Mat plane(bgr.size(), CV_32FC1, out + c * plane_size);
    bgr_planes[2 - c].convertTo(plane, CV_32F, 1.0 / std[c], -mean[c] / std[c]);
  }
}

void resize_pair(cv::Mat& image, cv::Mat& label, cv::Size size) {
  if (image.size() == size) return;
  cv::resize(image, image, size, 0, 0, cv::INTER_LINEAR);
  if (!label.empty()) cv::resize(label, label, size, 0, 0, cv::INTER_NEAREST);
}

void random_scale(cv::Mat& image, cv::Mat& label, std::array<double, 2> range, Rng& rng) {
  if (!(range[0] > 0 && range[0] <= range[1]))
    throw Error(fmt::format("data.augment.scale_range must satisfy 0 < lo <= hi, got [{}, {}]", range[0], range[1]));
  if (range[0] == range[1] && range[0] == 1) return;
  const double factor = range[0] == range[1] ? range[0] : uniform(range[0], range[1], rng);
  const cv::Size size(std::max(1, static_cast<int>(std::lround(image.cols * factor))),
                      std::max(1, static_cast<int>(std::lround(image.rows * factor))));
  resize_pair(image, label, size);
}

void random_crop(cv::Mat& image, cv::Mat& label, cv::Size size, double cat_max_ratio, Rng& rng) {
  if (size.width <= 0 || size.height <= 0)
    throw Error(fmt::format("data.augment.crop must be positive, got [{}, {}]", size.width, size.height));
  const cv::Size inside(std::min(size.width, image.cols), std::min(size.height, image.rows));
  auto pick = [&] {
    const int x = std::uniform_int_distribution<int>(0, image.cols - inside.width)(rng);
    const int y = std::uniform_int_distribution<int>(0, image.rows - inside.height)(rng);
    return cv::Rect(cv::Point(x, y), inside);
  };
  cv::Rect roi = pick();
  // As in mmseg: up to 10 fresh picks while the crop is dominated by one class;
  // the last pick is kept whatever it shows.
  if (!label.empty() && cat_max_ratio < 1)
    for (int attempt = 0; attempt < 10 && !crop_is_balanced(label(roi), cat_max_ratio); ++attempt) roi = pick();
  image = crop_and_pad(image, roi, size, cv::Scalar::all(0));
  if (!label.empty()) label = crop_and_pad(label, roi, size, cv::Scalar::all(kIgnoreIndex));
}

void random_hflip(cv::Mat& image, cv::Mat& label, double p, Rng& rng) {
  if (!chance(p, rng)) return;
  cv::flip(image, image, 1);
  if (!label.empty()) cv::flip(label, label, 1);
}

// Like DAFormer's kornia ColorJitter(s, s, s, s): brightness, contrast and
// saturation factors uniform in [1 - s, 1 + s], hue rotated by up to ±s turns,
// applied in a random order.
void colour_jitter(cv::Mat& image, double strength, double p, Rng& rng) {
  if (strength <= 0 || !chance(p, rng)) return;
  const double lo = std::max(0.0, 1 - strength), hi = 1 + strength;
  const double brightness = uniform(lo, hi, rng), contrast = uniform(lo, hi, rng), saturation = uniform(lo, hi, rng);
  const double hue_turns = uniform(-std::min(strength, 0.5), std::min(strength, 0.5), rng);
  std::array<int, 4> order{0, 1, 2, 3};
  std::shuffle(order.begin(), order.end(), rng);
  for (int step : order) {
    switch (step) {
      case 0:
        adjust_brightness(image, brightness);
        break;
      case 1:
        adjust_contrast(image, contrast);
        break;
      case 2:
        adjust_saturation(image, saturation);
        break;
      default:
        adjust_hue(image, hue_turns);
        break;
    }
  }
}

// DACS/DAFormer: sigma uniform in [0.15, 1.15], an odd kernel of about 10% of
// the side. The kernel is also capped at ±4 sigma: the weights beyond it sum to
// < 1e-4, so the result is the same in uint8 at a fraction of the cost on big images.
void gaussian_blur(cv::Mat& image, double p, Rng& rng) {
  if (!chance(p, rng)) return;
  const double sigma = uniform(0.15, 1.15, rng);
  const int tenth = static_cast<int>(std::ceil(0.1 * std::min(image.cols, image.rows)));
  const int kernel = std::min(tenth % 2 == 1 ? tenth : tenth - 1, 2 * static_cast<int>(std::ceil(4 * sigma)) + 1);
  if (kernel < 3) return;
  cv::GaussianBlur(image, image, cv::Size(kernel, kernel), sigma, sigma, cv::BORDER_REFLECT_101);
}

void augment(cv::Mat& image, cv::Mat& label, const AugmentSpec& spec, Rng& rng) {
  if (!label.empty() && label.size() != image.size())
    throw Error(fmt::format("augment: label size {}x{} differs from image size {}x{}", label.cols, label.rows,
                            image.cols, image.rows));
  // resize: both sides must be given; a 0 anywhere keeps the size.
  if (spec.resize[0] > 0 && spec.resize[1] > 0) resize_pair(image, label, cv::Size(spec.resize[0], spec.resize[1]));
  random_scale(image, label, spec.scale_range, rng);
  if (spec.crop[0] > 0 && spec.crop[1] > 0)
    random_crop(image, label, cv::Size(spec.crop[0], spec.crop[1]), spec.cat_max_ratio, rng);
  random_hflip(image, label, spec.hflip, rng);
  colour_jitter(image, spec.jitter_strength, spec.jitter_p, rng);
  gaussian_blur(image, spec.blur_p, rng);
}

}  // namespace segtransfer
