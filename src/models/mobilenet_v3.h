// MobileNetV3 building blocks with torchvision's module layout and parameter
// names (torchvision/models/mobilenetv3.py), used as the LR-ASPP backbone.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "models/batch_norm.h"

namespace segtransfer {

enum class MobileNetV3Variant { kLarge, kSmall };

// One bottleneck row of Tables 1/2 of the MobileNetV3 paper (width multiplier 1).
struct InvertedResidualConfig {
  int64_t input_channels;
  int64_t kernel;
  int64_t expanded_channels;
  int64_t out_channels;
  bool use_se;
  bool use_hardswish;
  int64_t stride;
  int64_t dilation;
};

// torchvision's _mobilenet_v3_conf; `dilated` trades the last stage's stride 2
// for dilation 2 (output stride 16 instead of 32).
std::vector<InvertedResidualConfig> mobilenet_v3_config(MobileNetV3Variant variant, bool dilated);

// torchvision's _make_divisible: round to the nearest multiple of `divisor`, never 10% below v.
int64_t make_divisible(double v, int64_t divisor = 8);

enum class Activation { kNone, kReLU, kHardswish };

struct Conv2dNormActivationOptions {
  Conv2dNormActivationOptions(int64_t in_channels, int64_t out_channels, int64_t kernel)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(Activation, activation) = Activation::kReLU;
};

// torchvision's Conv2dNormActivation: "0" conv (no bias, "same" padding), "1"
// BatchNorm2d(eps 1e-3, momentum 0.01), "2" activation. A Sequential with a concrete
// forward, so that it can sit inside another Sequential.
class Conv2dNormActivationImpl : public torch::nn::SequentialImpl {
 public:
  explicit Conv2dNormActivationImpl(const Conv2dNormActivationOptions& options);
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Conv2dNormActivation);

// torchvision.ops.SqueezeExcitation with a hardsigmoid gate.
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze_channels);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

class InvertedResidualImpl : public torch::nn::Module {
 public:
  explicit InvertedResidualImpl(const InvertedResidualConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential block_{nullptr};
  bool use_residual_;
};
TORCH_MODULE(InvertedResidual);

// The `features` Sequential of torchvision's MobileNetV3: "0" stem conv, one
// InvertedResidual per config row, then the 1x1 conv to 6 × last channels.
// Initialised as torchvision does (kaiming-normal fan-out convs, BN 1/0).
torch::nn::Sequential mobilenet_v3_features(const std::vector<InvertedResidualConfig>& config);

}  // namespace segtransfer
