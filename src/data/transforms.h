// Augmentations on OpenCV uint8 images (cheaper than on float tensors), applied
// jointly to the image and its label so they stay aligned.
#pragma once
#include <opencv2/core.hpp>

#include <array>
#include <random>

#include "core/config.h"

namespace segtransfer {

using Rng = std::mt19937_64;

// A BGR uint8 image as the networks take it: RGB planes (3·H·W floats, C order)
// of (pixel − mean) / std, written straight into `out` with one split and one
// convertTo per channel (OpenCV only: loader threads and the ONNX deployment path
// run no torch op). Throws Error for anything but CV_8UC3.
void write_normalised_rgb(const cv::Mat& bgr, const std::array<double, 3>& mean, const std::array<double, 3>& std,
                          float* out);

// Image: bilinear; label: nearest. size = (w, h).
void resize_pair(cv::Mat& image, cv::Mat& label, cv::Size size);
// Random rescale by a factor in [lo, hi] (uniform).
void random_scale(cv::Mat& image, cv::Mat& label, std::array<double, 2> range, Rng& rng);
// Random crop of `size`; pads (image 0, label ignore) if smaller. When a label is
// present and cat_max_ratio < 1, retries up to 10 times for a crop in which no
// single class covers more than that share of the labelled pixels (mmseg's rule).
void random_crop(cv::Mat& image, cv::Mat& label, cv::Size size, double cat_max_ratio, Rng& rng);
void random_hflip(cv::Mat& image, cv::Mat& label, double p, Rng& rng);
// Brightness/contrast/saturation/hue jitter of the given strength, with probability p.
void colour_jitter(cv::Mat& image, double strength, double p, Rng& rng);
// Gaussian blur with a random sigma in [0.15, 1.15] · (a kernel ~ 10% of the short side), probability p.
void gaussian_blur(cv::Mat& image, double p, Rng& rng);

// The whole training pipeline of an AugmentSpec (resize → scale → crop → flip →
// jitter → blur). `label` may be empty (unlabelled data).
void augment(cv::Mat& image, cv::Mat& label, const AugmentSpec& spec, Rng& rng);

}  // namespace segtransfer
