#include "models/lraspp.h"

namespace segtransfer {

LRASPPHeadImpl::LRASPPHeadImpl(const LRASPPHeadOptions& o) {
  namespace nn = torch::nn;
  const int64_t low_channels = o.low_channels(), high_channels = o.high_channels(), num_classes = o.num_classes(),
                inter_channels = o.inter_channels();
  cbr_ =
      register_module("cbr", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(high_channels, inter_channels, 1).bias(false)),
                                            BatchNorm2d(inter_channels), nn::ReLU(nn::ReLUOptions(true))));
  scale_ = register_module(
      "scale",
      nn::Sequential(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)),
                     nn::Conv2d(nn::Conv2dOptions(high_channels, inter_channels, 1).bias(false)), nn::Sigmoid()));
  low_classifier_ = register_module("low_classifier", nn::Conv2d(nn::Conv2dOptions(low_channels, num_classes, 1)));
  high_classifier_ = register_module("high_classifier", nn::Conv2d(nn::Conv2dOptions(inter_channels, num_classes, 1)));
}

torch::Tensor LRASPPHeadImpl::forward(const torch::Tensor& low, const torch::Tensor& high) {
  torch::Tensor x = cbr_->forward(high) * scale_->forward(high);
  x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                .size(low.sizes().slice(2).vec())
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  return low_classifier_(low) + high_classifier_(x);
}

LRASPPImpl::LRASPPImpl(const LRASPPOptions& options) : options_(options) {
  const auto config = mobilenet_v3_config(options.variant(), /*dilated=*/true);
  // torchvision: stage indices are the stem (0), every strided block (config
  // row i sits at backbone position i + 1) and the last layer; "low" is the
  // fourth from the end, the first block at output stride 8.
  std::vector<int64_t> stage_indices = {0};
  std::vector<int64_t> out_channels = {config.front().input_channels};
  for (size_t i = 0; i < config.size(); ++i) {
    out_channels.push_back(config[i].out_channels);
    if (config[i].stride > 1) stage_indices.push_back(static_cast<int64_t>(i) + 1);
  }
  stage_indices.push_back(static_cast<int64_t>(config.size()) + 1);
  low_index_ = stage_indices[stage_indices.size() - 4];
  high_channels_ = 6 * config.back().out_channels;

  backbone_ = register_module("backbone", mobilenet_v3_features(config));
  classifier_ = register_module(
      "classifier", LRASPPHead(LRASPPHeadOptions(out_channels[low_index_], high_channels_, options.num_classes())
                                   .inter_channels(options.inter_channels())));
}

SegOutput LRASPPImpl::forward_features(const torch::Tensor& x) {
  torch::Tensor low, high = x;
  int64_t index = 0;
  for (auto& layer : *backbone_) {
    high = layer.forward(high);
    if (index++ == low_index_) low = high;
  }
  return {classifier_->forward(low, high), high};
}

std::string LRASPPImpl::architecture() const {
  return options_.variant() == MobileNetV3Variant::kLarge ? "lraspp_mobilenet_v3_large" : "lraspp_mobilenet_v3_small";
}

}  // namespace segtransfer
