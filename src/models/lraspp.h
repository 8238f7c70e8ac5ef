// Lite R-ASPP (Howard et al. 2019, "Searching for MobileNetV3") on a dilated
// MobileNetV3, built and named exactly as torchvision's _lraspp_mobilenetv3 so
// that `lraspp_mobilenet_v3_large` state_dicts load by name.
#pragma once
#include <torch/torch.h>

#include "models/mobilenet_v3.h"
#include "models/model.h"

namespace segtransfer {

struct LRASPPOptions {
  explicit LRASPPOptions(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(MobileNetV3Variant, variant) = MobileNetV3Variant::kLarge;
  TORCH_ARG(int64_t, inter_channels) = 128;
};

struct LRASPPHeadOptions {
  LRASPPHeadOptions(int64_t low_channels, int64_t high_channels, int64_t num_classes)
      : low_channels_(low_channels), high_channels_(high_channels), num_classes_(num_classes) {}
  TORCH_ARG(int64_t, low_channels);   // of the stride-8 backbone features
  TORCH_ARG(int64_t, high_channels);  // of the last backbone features
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, inter_channels) = 128;
};

// `classifier`: a gated 1x1 branch on the high-level features plus a linear
// classifier on the low-level (stride 8) features.
class LRASPPHeadImpl : public torch::nn::Module {
 public:
  explicit LRASPPHeadImpl(const LRASPPHeadOptions& options);
  torch::Tensor forward(const torch::Tensor& low, const torch::Tensor& high);

 private:
  torch::nn::Sequential cbr_{nullptr}, scale_{nullptr};
  torch::nn::Conv2d low_classifier_{nullptr}, high_classifier_{nullptr};
};
TORCH_MODULE(LRASPPHead);

class LRASPPImpl : public SegmentationModelImpl {
 public:
  explicit LRASPPImpl(const LRASPPOptions& options);

  // logits at stride 8; features = the high-level (stride 16) backbone output.
  SegOutput forward_features(const torch::Tensor& x) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t feature_channels() const override { return high_channels_; }
  std::vector<torch::Tensor> head_parameters() override { return classifier_->parameters(); }
  std::string architecture() const override;

 private:
  LRASPPOptions options_;
  int64_t low_index_;  // backbone position of the low-level (stride 8) output
  int64_t high_channels_;
  torch::nn::Sequential backbone_{nullptr};
  LRASPPHead classifier_{nullptr};
};
TORCH_MODULE(LRASPP);

}  // namespace segtransfer
