#include "methods/common/strong_augment.h"

#include <cmath>

#include "core/config.h"

namespace segtransfer {

StrongAugmentOptions StrongAugmentOptions::from_config(const RunConfig& config, const std::string& section) {
  StrongAugmentOptions o;
  o.jitter_strength = config_value<double>(config.tree, section + ".jitter_strength");
  o.jitter_p = config_value<double>(config.tree, section + ".jitter_p");
  o.blur_p = config_value<double>(config.tree, section + ".blur_p");
  o.mean = config.data.mean;
  o.std = config.data.std;
  return o;
}

namespace {

torch::Tensor gaussian_kernel1d(double sigma, int64_t size, const torch::TensorOptions& options) {
  auto x = torch::arange(size, options) - static_cast<double>(size - 1) / 2;
  auto k = torch::exp(-(x * x) / (2 * sigma * sigma));
  return k / k.sum();
}

// Separable blur of one (3, H, W) image with reflect padding.
torch::Tensor blur(const torch::Tensor& image, double sigma, int64_t size) {
  namespace F = torch::nn::functional;
  auto k = gaussian_kernel1d(sigma, size, image.options());
  auto x = image.unsqueeze(0);
  const int64_t pad = size / 2;
  x = F::pad(x, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
  x = F::conv2d(x, k.view({1, 1, 1, size}).expand({3, 1, 1, size}), F::Conv2dFuncOptions().groups(3));
  x = F::conv2d(x, k.view({1, 1, size, 1}).expand({3, 1, size, 1}), F::Conv2dFuncOptions().groups(3));
  return x.squeeze(0);
}

}  // namespace

torch::Tensor strong_augment(const torch::Tensor& images, const StrongAugmentOptions& o, std::mt19937_64& rng) {
  torch::NoGradGuard no_grad;
  std::uniform_real_distribution<double> unit(0, 1);
  auto mean = torch::tensor(std::vector<double>(o.mean.begin(), o.mean.end()), images.options()).view({3, 1, 1});
  auto std = torch::tensor(std::vector<double>(o.std.begin(), o.std.end()), images.options()).view({3, 1, 1});
  auto out = images.clone();
  for (int64_t i = 0; i < images.size(0); ++i) {
    const bool jitter = unit(rng) < o.jitter_p, do_blur = unit(rng) < o.blur_p;
    if (!jitter && !do_blur) continue;
    auto x = out[i] * std + mean;  // 0..255 RGB
    if (jitter) {
      const double s = o.jitter_strength;
      auto factor = [&] { return 1 + s * (2 * unit(rng) - 1); };
      x = x * factor();                          // brightness
      x = (x - x.mean()) * factor() + x.mean();  // contrast
      auto grey = (x * torch::tensor({0.299, 0.587, 0.114}, x.options()).view({3, 1, 1})).sum(0, true);
      x = (x - grey) * factor() + grey;  // saturation
      x = x.clamp(0, 255);
    }
    if (do_blur) {
      // DACS: sigma in [0.15, 1.15], kernel ~10% of the short side (odd).
      const double sigma = 0.15 + unit(rng);
      int64_t size = static_cast<int64_t>(std::ceil(0.1 * std::min(x.size(1), x.size(2))));
      size = std::max<int64_t>(3, size - (size % 2) + 1);
      if (size < std::min(x.size(1), x.size(2))) x = blur(x, sigma, size);
    }
    out[i].copy_((x - mean) / std);
  }
  return out;
}

}  // namespace segtransfer
