// The convolution / BatchNorm / PReLU blocks ESPNet and ESPNetv2 are built from
// (the references' CBR, CB and BR), with the references' member names ("conv",
// "bn", "act") so that their published checkpoints load by name.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "models/batch_norm.h"

namespace segtransfer {

struct ConvBlockOptions {
  ConvBlockOptions(int64_t in_channels, int64_t out_channels, int64_t kernel)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(double, bn_eps) = 1e-5;  // ESPNet's blocks use 1e-3, ESPNetv2's PyTorch's default
};

// Bias-free convolution with both references' padding, (kernel - 1) / 2 · dilation.
torch::nn::Conv2d same_padded_conv(const ConvBlockOptions& options);
// One learned slope per channel.
torch::nn::PReLU channel_prelu(int64_t channels);

// Conv + BatchNorm + PReLU: "conv", "bn", "act" (the references' CBR).
class ConvBnPReLUImpl : public torch::nn::Module {
 public:
  explicit ConvBnPReLUImpl(const ConvBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x) { return act_(bn_(conv_(x))); }

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm2d bn_{nullptr};
  torch::nn::PReLU act_{nullptr};
};
TORCH_MODULE(ConvBnPReLU);

// Conv + BatchNorm: "conv", "bn" (CB).
class ConvBnImpl : public torch::nn::Module {
 public:
  explicit ConvBnImpl(const ConvBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x) { return bn_(conv_(x)); }

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBn);

// BatchNorm + PReLU: "bn", "act" (BR).
class BnPReLUImpl : public torch::nn::Module {
 public:
  explicit BnPReLUImpl(int64_t channels, double bn_eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x) { return act_(bn_(x)); }

 private:
  BatchNorm2d bn_{nullptr};
  torch::nn::PReLU act_{nullptr};
};
TORCH_MODULE(BnPReLU);

}  // namespace segtransfer
