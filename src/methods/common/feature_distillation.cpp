#include "methods/common/feature_distillation.h"

#include "core/error.h"

namespace segtransfer {

FeatureAdapterImpl::FeatureAdapterImpl(const FeatureAdapterOptions& o)
    : conv_(
          register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), 1)))) {}

torch::Tensor FeatureAdapterImpl::forward(const torch::Tensor& student_features) {
  return conv_->forward(student_features);
}

torch::Tensor feature_distillation_loss(const torch::Tensor& adapted_student, const torch::Tensor& teacher_features) {
  if (adapted_student.size(0) != teacher_features.size(0) || adapted_student.size(1) != teacher_features.size(1))
    throw Error("feature distillation: adapted student features " + c10::str(adapted_student.sizes()) +
                " do not match the teacher's " + c10::str(teacher_features.sizes()) + " in batch or channels");
  namespace F = torch::nn::functional;
  torch::Tensor target = teacher_features.detach();
  if (target.sizes().slice(2) != adapted_student.sizes().slice(2))
    target = F::interpolate(target, F::InterpolateFuncOptions()
                                        .size(adapted_student.sizes().slice(2).vec())
                                        .mode(torch::kBilinear)
                                        .align_corners(false));
  return (adapted_student - target).pow(2).sum(1).mean();
}

}  // namespace segtransfer
