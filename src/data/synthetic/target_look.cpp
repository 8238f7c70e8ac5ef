#include "data/synthetic/target_look.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <vector>

namespace segtransfer::synthetic {
namespace {

// Noise at the three scales of Texture, with each surface's amplitudes, alike in every channel.
void add_textures(cv::Mat& image, const cv::Mat& surface, Sampler& random) {
  const cv::Size size = image.size();
  cv::Mat grain(size, CV_32FC1), clump, blotch;
  random.fill_normal(grain, 1);
  cv::GaussianBlur(grain, clump, cv::Size(0, 0), 1.0);
  cv::Scalar mean, stddev;
  cv::meanStdDev(clump, mean, stddev);
  clump /= std::max(1e-6, stddev[0]);
  cv::Mat coarse(std::max(2, size.height / 16), std::max(2, size.width / 16), CV_32FC1);
  random.fill_normal(coarse, 1);
  cv::resize(coarse, blotch, size, 0, 0, cv::INTER_CUBIC);
  cv::Mat lut_grain(1, 256, CV_32FC1, cv::Scalar(0)), lut_clump = lut_grain.clone(), lut_blotch = lut_grain.clone();
  for (int s = 0; s < kSurfaceCount; ++s) {
    const Texture& amplitude = target_texture(static_cast<Surface>(s));
    lut_grain.at<float>(s) = float(amplitude.grain * kTargetTextureStrength);
    lut_clump.at<float>(s) = float(amplitude.clump * kTargetTextureStrength);
    lut_blotch.at<float>(s) = float(amplitude.blotch * kTargetTextureStrength);
  }
  cv::Mat a_grain, a_clump, a_blotch;
  cv::LUT(surface, lut_grain, a_grain);
  cv::LUT(surface, lut_clump, a_clump);
  cv::LUT(surface, lut_blotch, a_blotch);
  const cv::Mat texture = a_grain.mul(grain) + a_clump.mul(clump) + a_blotch.mul(blotch);
  cv::Mat texture3;
  cv::merge(std::vector<cv::Mat>{texture, texture, texture}, texture3);
  image += texture3;
}

// Global brightness, a linear ramp across the image, and the dusk tint.
void light(cv::Mat& image, Sampler& random, bool dusk) {
  const cv::Size size = image.size();
  const double brightness = random.uniform(kTargetBrightness[0], kTargetBrightness[1]) * (dusk ? kTargetDuskGain : 1.0);
  const double gx = random.uniform(-kTargetGradient, kTargetGradient),
               gy = random.uniform(-kTargetGradient, kTargetGradient);
  cv::Mat xs(1, size.width, CV_32FC1), ys(size.height, 1, CV_32FC1);
  for (int x = 0; x < size.width; ++x) xs.at<float>(x) = float(gx * (2.0 * x / size.width - 1));
  for (int y = 0; y < size.height; ++y) ys.at<float>(y) = float(1 + gy * (2.0 * y / size.height - 1));
  cv::Mat gain = cv::repeat(xs, size.height, 1) + cv::repeat(ys, 1, size.width);
  gain *= brightness;
  std::vector<cv::Mat> channels(3);
  for (int c = 0; c < 3; ++c) channels[c] = gain * (dusk ? kTargetDuskTint[c] : 1.0);
  cv::Mat gain3;
  cv::merge(channels, gain3);
  image = image.mul(gain3);
}

// Blend towards a grey fog with the distance of each pixel.
void add_fog(cv::Mat& image, const cv::Mat& depth, Sampler& random, bool dusk) {
  cv::Mat transmission;
  cv::exp(depth * (-1.0 / random.uniform(kTargetFogDistance[0], kTargetFogDistance[1])), transmission);
  cv::Mat t3;
  cv::merge(std::vector<cv::Mat>{transmission, transmission, transmission}, t3);
  const double level = random.uniform(170, 215) * (dusk ? kTargetDuskGain : 1.0);
  const cv::Mat fog(image.size(), CV_32FC3, cv::Scalar::all(level));
  image = image.mul(t3) + fog.mul(cv::Scalar::all(1) - t3);
}

}  // namespace

void apply_target_look(Canvas& canvas, Sampler& random, bool dusk, bool fog) {
  const cv::Size size = canvas.image.size();
  cv::Mat image;
  canvas.image.convertTo(image, CV_32FC3);
  add_textures(image, canvas.surface, random);
  light(image, random, dusk);
  if (fog) add_fog(image, canvas.depth, random, dusk);
  const double scale = size.width / 320.0;
  cv::GaussianBlur(image, image, cv::Size(0, 0),
                   std::max(0.1, random.uniform(kTargetBlurSigma[0], kTargetBlurSigma[1]) * scale));
  cv::Mat noise(size, CV_32FC3);
  random.fill_normal(noise, random.uniform(kTargetNoiseSigma[0], kTargetNoiseSigma[1]));
  image += noise;
  cv::Mat out;
  image.convertTo(out, CV_8UC3);
  std::vector<uchar> jpeg;
  const int quality = random.integer(kTargetJpegQuality[0], kTargetJpegQuality[1]);
  cv::imencode(".jpg", out, jpeg, {cv::IMWRITE_JPEG_QUALITY, quality});
  canvas.image = cv::imdecode(jpeg, cv::IMREAD_COLOR);
}

}  // namespace segtransfer::synthetic
