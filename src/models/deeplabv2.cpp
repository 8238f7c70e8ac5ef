#include "models/deeplabv2.h"

#include "core/error.h"

namespace segtransfer {

DeepLabV2ClassifierImpl::DeepLabV2ClassifierImpl(int64_t in_channels, int64_t num_classes,
                                                 const std::vector<int64_t>& rates, int64_t summed_branches)
    : summed_branches_(summed_branches) {
  if (summed_branches < 1 || summed_branches > static_cast<int64_t>(rates.size())) {
    throw Error("deeplabv2: summed_branches must be in 1.." + std::to_string(rates.size()) + ", got " +
                std::to_string(summed_branches));
  }
  for (int64_t rate : rates) {
    convs_.push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, num_classes, 3).padding(rate).dilation(rate)));
    conv2d_list_->push_back(convs_.back());
  }
  register_module("conv2d_list", conv2d_list_);
}

torch::Tensor DeepLabV2ClassifierImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = convs_[0](x);
  for (int64_t i = 1; i < summed_branches_; ++i) out += convs_[i](x);
  return out;
}

DeepLabV2Impl::DeepLabV2Impl(const DeepLabV2Options& options) : options_(options) {
  namespace nn = torch::nn;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
  bn1_ = register_module("bn1", BatchNorm2d(64));
  // layer3/layer4 trade their stride for dilation 2/4 in every block; each
  // layer's first block has a projection shortcut (reference _make_layer).
  const std::array<int64_t, 4> blocks = {3, 4, 23, 3}, strides = {1, 2, 1, 1}, dilations = {1, 1, 2, 4};
  int64_t in_channels = 64;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t planes = 64 << i;
    nn::Sequential layer;
    for (int64_t b = 0; b < blocks[i]; ++b) {
      layer->push_back(Bottleneck(BottleneckOptions(in_channels, planes)
                                      .stride(b == 0 ? strides[i] : 1)
                                      .dilation(dilations[i])
                                      .stride_in_1x1(true)
                                      .downsample(b == 0)));
      in_channels = 4 * planes;
    }
    layers_[i] = register_module("layer" + std::to_string(i + 1), layer);
  }
  layer5_ = register_module("layer5", DeepLabV2Classifier(in_channels, options.num_classes(), options.atrous_rates(),
                                                          options.summed_branches()));

  // Reference initialisation: every conv weight ~ N(0, 0.01), BN 1/0.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      conv->weight.normal_(0.0, 0.01);
    } else if (auto* bn = m->as<BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

SegOutput DeepLabV2Impl::forward_features(const torch::Tensor& x) {
  torch::Tensor h = bn1_(conv1_(x)).relu_();
  h = torch::max_pool2d(h, 3, 2, 1, 1, /*ceil_mode=*/true);
  for (auto& layer : layers_) h = layer->forward(h);
  return {layer5_->forward(h), h};
}

}  // namespace segtransfer
