// DeepLab-V2 (Chen et al. 2016) on a Caffe-style dilated ResNet-101 as used by
// the UDA literature (AdaptSegNet, DACS: model/deeplabv2.py), with the same
// top-level parameter names (conv1, bn1, layer1-4, layer5.conv2d_list.*), so
// their checkpoints load by name.
#pragma once
#include <torch/torch.h>

#include "models/model.h"
#include "models/resnet.h"

namespace segtransfer {

struct DeepLabV2Options {
  explicit DeepLabV2Options(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(std::vector<int64_t>, atrous_rates) = std::vector<int64_t>{6, 12, 18, 24};
  // How many classifier branches are summed. The released AdaptSegNet/DACS code
  // returns from Classifier_Module.forward inside its loop, so only the first
  // two branches contribute there; set 2 to reproduce their checkpoints' outputs.
  TORCH_ARG(int64_t, summed_branches) = 4;
};

// `layer5` (Classifier_Module): one dilated 3x3 conv per rate, outputs summed.
class DeepLabV2ClassifierImpl : public torch::nn::Module {
 public:
  DeepLabV2ClassifierImpl(int64_t in_channels, int64_t num_classes, const std::vector<int64_t>& rates,
                          int64_t summed_branches);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList conv2d_list_;
  std::vector<torch::nn::Conv2d> convs_;  // conv2d_list_ in order
  int64_t summed_branches_;
};
TORCH_MODULE(DeepLabV2Classifier);

class DeepLabV2Impl : public SegmentationModelImpl {
 public:
  explicit DeepLabV2Impl(const DeepLabV2Options& options);

  // logits at stride 8; features = layer4 output (2048 channels).
  SegOutput forward_features(const torch::Tensor& x) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t feature_channels() const override { return 2048; }
  std::vector<torch::Tensor> head_parameters() override { return layer5_->parameters(); }
  std::string architecture() const override { return "deeplabv2_resnet101"; }

 private:
  DeepLabV2Options options_;
  torch::nn::Conv2d conv1_{nullptr};
  BatchNorm2d bn1_{nullptr};
  std::array<torch::nn::Sequential, 4> layers_{nullptr, nullptr, nullptr, nullptr};
  DeepLabV2Classifier layer5_{nullptr};
};
TORCH_MODULE(DeepLabV2);

}  // namespace segtransfer
