// Exponential moving average of a network's weights (the mean teacher of DACS,
// CoRTe's refinement network, STvM's teacher): after step t,
//   θ_ema ← α_t θ_ema + (1 − α_t) θ,  α_t = min(1 − 1/(t + 1), α),
// so the average starts as a copy and only slowly stops following the student.
// Buffers (BatchNorm statistics) are copied, as DAFormer does.
//
// A teacher that starts from a trained model (STvM's source model) must not follow the
// student at first: with the ramp it is the student after one step, so self-training has
// no stable target (on CamVid a source-free run fell further with it: docs/benchmarks.md,
// "Real data: source-free"). EmaStart::kTrained keeps α from step 0
// and averages the floating-point buffers too (timm's ModelEmaV2 does the same), so the
// teacher's BatchNorm statistics also move slowly.
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/model.h"

namespace segtransfer {

enum class EmaStart {
  kRampUp,   // α_t ramps up to α: the average forgets a random or early student
  kTrained,  // α from step 0, buffers averaged: the average starts as a trained model
};

class EmaModel {
 public:
  // A copy of `model` (same architecture `name`), in eval mode on `device`.
  EmaModel(const std::string& name, SegmentationModelImpl& model, torch::Device device,
           EmaStart start = EmaStart::kRampUp);

  void update(SegmentationModelImpl& model, int64_t iteration, double momentum);
  // The momentum kRampUp uses at `iteration` for the target momentum `momentum`.
  static double momentum_at(int64_t iteration, double momentum);

  SegmentationModelImpl& model() { return *ema_; }
  void save(torch::serialize::OutputArchive& archive, const std::string& key) const;
  void load(torch::serialize::InputArchive& archive, const std::string& key, torch::Device device);

 private:
  SegmentationModel ema_;
  EmaStart start_;
  std::vector<torch::Tensor> ema_params_, ema_buffers_;
};

}  // namespace segtransfer
