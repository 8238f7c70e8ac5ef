#include "models/resnet.h"

namespace segtransfer {

BottleneckImpl::BottleneckImpl(const BottleneckOptions& o) {
  namespace nn = torch::nn;
  const int64_t out_channels = 4 * o.planes();
  const int64_t stride_1x1 = o.stride_in_1x1() ? o.stride() : 1;
  const int64_t stride_3x3 = o.stride_in_1x1() ? 1 : o.stride();
  conv1_ = register_module(
      "conv1", nn::Conv2d(nn::Conv2dOptions(o.in_channels(), o.planes(), 1).stride(stride_1x1).bias(false)));
  bn1_ = register_module("bn1", BatchNorm2d(o.planes()));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(o.planes(), o.planes(), 3)
                                                   .stride(stride_3x3)
                                                   .padding(o.dilation())
                                                   .dilation(o.dilation())
                                                   .bias(false)));
  bn2_ = register_module("bn2", BatchNorm2d(o.planes()));
  conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(o.planes(), out_channels, 1).bias(false)));
  bn3_ = register_module("bn3", BatchNorm2d(out_channels));
  if (o.downsample()) {
    downsample_ = register_module(
        "downsample",
        nn::Sequential(nn::Conv2d(nn::Conv2dOptions(o.in_channels(), out_channels, 1).stride(o.stride()).bias(false)),
                       BatchNorm2d(out_channels)));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = bn1_(conv1_(x)).relu_();
  out = bn2_(conv2_(out)).relu_();
  out = bn3_(conv3_(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return out.relu_();
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) {
  namespace nn = torch::nn;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
  bn1_ = register_module("bn1", BatchNorm2d(64));
  int64_t in_channels = 64;
  int64_t dilation = 1;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t planes = 64 << i;
    int64_t stride = i == 0 ? 1 : 2;
    // torchvision's _make_layer: a dilated layer's first block keeps the
    // previous dilation, the following blocks use the new one.
    const int64_t first_dilation = dilation;
    if (i > 0 && options.replace_stride_with_dilation()[i - 1]) {
      dilation *= stride;
      stride = 1;
    }
    nn::Sequential layer;
    for (int64_t b = 0; b < options.blocks_per_layer().at(i); ++b) {
      const bool first = b == 0;
      layer->push_back(Bottleneck(BottleneckOptions(in_channels, planes)
                                      .stride(first ? stride : 1)
                                      .dilation(first ? first_dilation : dilation)
                                      .downsample(first && (stride != 1 || in_channels != 4 * planes))));
      in_channels = 4 * planes;
    }
    layers_[i] = register_module("layer" + std::to_string(i + 1), layer);
  }

  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = bn1_(conv1_(x)).relu_();
  x = torch::max_pool2d(x, 3, 2, 1);
  for (auto& layer : layers_) x = layer->forward(x);
  return x;
}

}  // namespace segtransfer
