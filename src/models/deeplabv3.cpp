#include "models/deeplabv3.h"

namespace segtransfer {

namespace {

torch::nn::Sequential conv_bn_relu(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t dilation) {
  namespace nn = torch::nn;
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, kernel)
                                       .padding(kernel / 2 * dilation)
                                       .dilation(dilation)
                                       .bias(false)),
                        BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions(true)));
}

}  // namespace

ASPPImpl::ASPPImpl(int64_t in_channels, const std::vector<int64_t>& atrous_rates, int64_t out_channels) {
  namespace nn = torch::nn;
  branches_.push_back(conv_bn_relu(in_channels, out_channels, 1, 1));
  for (int64_t rate : atrous_rates) branches_.push_back(conv_bn_relu(in_channels, out_channels, 3, rate));
  nn::Sequential pooling(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  pooling->extend(*conv_bn_relu(in_channels, out_channels, 1, 1));
  branches_.push_back(pooling);
  for (auto& branch : branches_) convs_->push_back(branch);
  register_module("convs", convs_);

  const auto branch_count = static_cast<int64_t>(branches_.size());
  project_ = register_module(
      "project",
      nn::Sequential(nn::Conv2d(nn::Conv2dOptions(branch_count * out_channels, out_channels, 1).bias(false)),
                     BatchNorm2d(out_channels), nn::ReLU(nn::ReLUOptions(true)), nn::Dropout(nn::DropoutOptions(0.5))));
}

torch::Tensor ASPPImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> outputs;
  for (size_t i = 0; i + 1 < branches_.size(); ++i) outputs.push_back(branches_[i]->forward(x));
  outputs.push_back(
      torch::nn::functional::interpolate(branches_.back()->forward(x), torch::nn::functional::InterpolateFuncOptions()
                                                                           .size(x.sizes().slice(2).vec())
                                                                           .mode(torch::kBilinear)
                                                                           .align_corners(false)));
  return project_->forward(torch::cat(outputs, 1));
}

DeepLabV3Impl::DeepLabV3Impl(const DeepLabV3Options& options) : options_(options) {
  namespace nn = torch::nn;
  backbone_ = register_module("backbone",
                              ResNet(ResNetOptions({3, 4, 6, 3}).replace_stride_with_dilation({false, true, true})));
  classifier_ =
      register_module("classifier", nn::Sequential(ASPP(2048, options.atrous_rates()),
                                                   nn::Conv2d(nn::Conv2dOptions(256, 256, 3).padding(1).bias(false)),
                                                   BatchNorm2d(256), nn::ReLU(nn::ReLUOptions(true)),
                                                   nn::Conv2d(nn::Conv2dOptions(256, options.num_classes(), 1))));
}

SegOutput DeepLabV3Impl::forward_features(const torch::Tensor& x) {
  torch::Tensor features = backbone_->forward(x);
  return {classifier_->forward(features), features};
}

}  // namespace segtransfer
