#include "models/mobilenet_v3.h"

namespace segtransfer {

std::vector<InvertedResidualConfig> mobilenet_v3_config(MobileNetV3Variant variant, bool dilated) {
  const int64_t d = dilated ? 2 : 1;
  // in, kernel, expanded, out, SE, hardswish, stride, dilation
  if (variant == MobileNetV3Variant::kLarge) {
    return {
        {16, 3, 16, 16, false, false, 1, 1},  {16, 3, 64, 24, false, false, 2, 1},
        {24, 3, 72, 24, false, false, 1, 1},  {24, 5, 72, 40, true, false, 2, 1},
        {40, 5, 120, 40, true, false, 1, 1},  {40, 5, 120, 40, true, false, 1, 1},
        {40, 3, 240, 80, false, true, 2, 1},  {80, 3, 200, 80, false, true, 1, 1},
        {80, 3, 184, 80, false, true, 1, 1},  {80, 3, 184, 80, false, true, 1, 1},
        {80, 3, 480, 112, true, true, 1, 1},  {112, 3, 672, 112, true, true, 1, 1},
        {112, 5, 672, 160, true, true, 2, d}, {160, 5, 960, 160, true, true, 1, d},
        {160, 5, 960, 160, true, true, 1, d},
    };
  }
  return {
      {16, 3, 16, 16, true, false, 2, 1}, {16, 3, 72, 24, false, false, 2, 1}, {24, 3, 88, 24, false, false, 1, 1},
      {24, 5, 96, 40, true, true, 2, 1},  {40, 5, 240, 40, true, true, 1, 1},  {40, 5, 240, 40, true, true, 1, 1},
      {40, 5, 120, 48, true, true, 1, 1}, {48, 5, 144, 48, true, true, 1, 1},  {48, 5, 288, 96, true, true, 2, d},
      {96, 5, 576, 96, true, true, 1, d}, {96, 5, 576, 96, true, true, 1, d},
  };
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

Conv2dNormActivationImpl::Conv2dNormActivationImpl(const Conv2dNormActivationOptions& o) {
  push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel())
                                  .stride(o.stride())
                                  .padding((o.kernel() - 1) / 2 * o.dilation())
                                  .dilation(o.dilation())
                                  .groups(o.groups())
                                  .bias(false)));
  push_back(BatchNorm2d(torch::nn::BatchNorm2dOptions(o.out_channels()).eps(1e-3).momentum(0.01)));
  if (o.activation() == Activation::kReLU) {
    push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
  } else if (o.activation() == Activation::kHardswish) {
    push_back(torch::nn::Functional([](torch::Tensor x) { return torch::hardswish_(x); }));
  }
}

SqueezeExcitationImpl::SqueezeExcitationImpl(int64_t channels, int64_t squeeze_channels)
    : fc1_(register_module("fc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, squeeze_channels, 1)))),
      fc2_(register_module("fc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze_channels, channels, 1)))) {}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  torch::Tensor scale = torch::adaptive_avg_pool2d(x, {1, 1});
  scale = fc2_(fc1_(scale).relu_());
  torch::hardsigmoid_(scale);
  return scale * x;
}

InvertedResidualImpl::InvertedResidualImpl(const InvertedResidualConfig& c)
    : use_residual_(c.stride == 1 && c.input_channels == c.out_channels) {
  const Activation activation = c.use_hardswish ? Activation::kHardswish : Activation::kReLU;
  torch::nn::Sequential layers;
  if (c.expanded_channels != c.input_channels) {
    layers->push_back(Conv2dNormActivation(
        Conv2dNormActivationOptions(c.input_channels, c.expanded_channels, 1).activation(activation)));
  }
  // A dilated block keeps its resolution: dilation replaces the stride.
  const int64_t stride = c.dilation > 1 ? 1 : c.stride;
  layers->push_back(Conv2dNormActivation(Conv2dNormActivationOptions(c.expanded_channels, c.expanded_channels, c.kernel)
                                             .stride(stride)
                                             .dilation(c.dilation)
                                             .groups(c.expanded_channels)  // depthwise
                                             .activation(activation)));
  if (c.use_se) {
    layers->push_back(SqueezeExcitation(c.expanded_channels, make_divisible(c.expanded_channels / 4)));
  }
  layers->push_back(Conv2dNormActivation(
      Conv2dNormActivationOptions(c.expanded_channels, c.out_channels, 1).activation(Activation::kNone)));
  block_ = register_module("block", layers);
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = block_->forward(x);
  if (use_residual_) out += x;
  return out;
}

torch::nn::Sequential mobilenet_v3_features(const std::vector<InvertedResidualConfig>& config) {
  torch::nn::Sequential features;
  features->push_back(Conv2dNormActivation(
      Conv2dNormActivationOptions(3, config.front().input_channels, 3).stride(2).activation(Activation::kHardswish)));
  for (const auto& c : config) features->push_back(InvertedResidual(c));
  const int64_t last_in = config.back().out_channels;
  features->push_back(
      Conv2dNormActivation(Conv2dNormActivationOptions(last_in, 6 * last_in, 1).activation(Activation::kHardswish)));

  torch::NoGradGuard no_grad;
  for (auto& m : features->modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = m->as<BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
  return features;
}

}  // namespace segtransfer
