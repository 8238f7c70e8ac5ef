// ResNet bottleneck blocks and the torchvision ResNet backbone (conv1 … layer4,
// no avgpool/fc), named as torchvision/models/resnet.py.
#pragma once
#include <torch/torch.h>

#include <array>
#include <vector>

#include "models/batch_norm.h"

namespace segtransfer {

struct BottleneckOptions {
  BottleneckOptions(int64_t in_channels, int64_t planes) : in_channels_(in_channels), planes_(planes) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, planes);  // the block outputs 4 × planes channels
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, dilation) = 1;
  // Caffe-style ResNet (DeepLab-V2) strides in the first 1x1 conv; torchvision in the 3x3.
  TORCH_ARG(bool, stride_in_1x1) = false;
  // `downsample` = 1x1 conv + BN on the shortcut.
  TORCH_ARG(bool, downsample) = false;
};

class BottleneckImpl : public torch::nn::Module {
 public:
  explicit BottleneckImpl(const BottleneckOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetOptions {
  using LayerFlags = std::array<bool, 3>;
  explicit ResNetOptions(std::vector<int64_t> blocks_per_layer) : blocks_per_layer_(std::move(blocks_per_layer)) {}
  TORCH_ARG(std::vector<int64_t>, blocks_per_layer);  // {3, 4, 6, 3} = ResNet-50
  // torchvision's replace_stride_with_dilation for layer2..layer4.
  TORCH_ARG(LayerFlags, replace_stride_with_dilation) = LayerFlags{false, false, false};
};

// torchvision ResNet without avgpool/fc; forward returns layer4's output.
// Initialised as torchvision does (kaiming-normal fan-out convs, BN 1/0).
class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr};
  BatchNorm2d bn1_{nullptr};
  std::array<torch::nn::Sequential, 4> layers_{nullptr, nullptr, nullptr, nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace segtransfer
