// Feature-space distillation from a frozen teacher (dual-teacher distillation):
// a 1x1 convolution maps the student's encoder features to the teacher's
// channels; the loss is the mean per-pixel squared L2 distance to the teacher's
// features, resized to the student's grid.
#pragma once
#include <torch/torch.h>

namespace segtransfer {

struct FeatureAdapterOptions {
  FeatureAdapterOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
};

class FeatureAdapterImpl : public torch::nn::Module {
 public:
  explicit FeatureAdapterImpl(const FeatureAdapterOptions& options);
  torch::Tensor forward(const torch::Tensor& student_features);  // (N, in, h, w) → (N, out, h, w)

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(FeatureAdapter);

// mean over the student's pixels of Σ_channels (adapted − teacher)², the teacher's
// features bilinearly resized to the adapted features' grid (no gradient to them).
torch::Tensor feature_distillation_loss(const torch::Tensor& adapted_student, const torch::Tensor& teacher_features);

}  // namespace segtransfer
