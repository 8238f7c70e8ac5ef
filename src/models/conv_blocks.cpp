#include "models/conv_blocks.h"

namespace segtransfer {

torch::nn::Conv2d same_padded_conv(const ConvBlockOptions& o) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel())
                               .stride(o.stride())
                               .padding((o.kernel() - 1) / 2 * o.dilation())
                               .dilation(o.dilation())
                               .groups(o.groups())
                               .bias(false));
}

torch::nn::PReLU channel_prelu(int64_t channels) {
  return torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(channels));
}

namespace {
BatchNorm2d batch_norm(int64_t channels, double eps) {
  return BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).eps(eps));
}
}  // namespace

ConvBnPReLUImpl::ConvBnPReLUImpl(const ConvBlockOptions& o)
    : conv_(register_module("conv", same_padded_conv(o))),
      bn_(register_module("bn", batch_norm(o.out_channels(), o.bn_eps()))),
      act_(register_module("act", channel_prelu(o.out_channels()))) {}

ConvBnImpl::ConvBnImpl(const ConvBlockOptions& o)
    : conv_(register_module("conv", same_padded_conv(o))),
      bn_(register_module("bn", batch_norm(o.out_channels(), o.bn_eps()))) {}

BnPReLUImpl::BnPReLUImpl(int64_t channels, double bn_eps)
    : bn_(register_module("bn", batch_norm(channels, bn_eps))), act_(register_module("act", channel_prelu(channels))) {}

}  // namespace segtransfer
