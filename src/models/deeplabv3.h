// DeepLabV3 (Chen et al. 2017) on a dilated ResNet-50, output stride 8, built
// and named as torchvision's deeplabv3_resnet50 without the auxiliary head, so
// its state_dicts load by name (the aux_classifier.* entries are then unexpected).
#pragma once
#include <torch/torch.h>

#include "models/model.h"
#include "models/resnet.h"

namespace segtransfer {

struct DeepLabV3Options {
  explicit DeepLabV3Options(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(std::vector<int64_t>, atrous_rates) = std::vector<int64_t>{12, 24, 36};
};

// Atrous spatial pyramid pooling: a 1x1 branch, one 3x3 branch per rate and an
// image-pooling branch ("convs"), concatenated and projected ("project").
class ASPPImpl : public torch::nn::Module {
 public:
  ASPPImpl(int64_t in_channels, const std::vector<int64_t>& atrous_rates, int64_t out_channels = 256);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList convs_;
  std::vector<torch::nn::Sequential> branches_;  // convs_ in order; the last one is the pooling branch
  torch::nn::Sequential project_{nullptr};
};
TORCH_MODULE(ASPP);

class DeepLabV3Impl : public SegmentationModelImpl {
 public:
  explicit DeepLabV3Impl(const DeepLabV3Options& options);

  // logits at stride 8; features = layer4 output (2048 channels).
  SegOutput forward_features(const torch::Tensor& x) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t feature_channels() const override { return 2048; }
  std::vector<torch::Tensor> head_parameters() override { return classifier_->parameters(); }
  std::string architecture() const override { return "deeplabv3_resnet50"; }

 private:
  DeepLabV3Options options_;
  ResNet backbone_{nullptr};
  torch::nn::Sequential classifier_{nullptr};  // torchvision's DeepLabHead
};
TORCH_MODULE(DeepLabV3);

}  // namespace segtransfer
