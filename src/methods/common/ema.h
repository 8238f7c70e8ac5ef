// Exponential moving average of a network's weights (the mean teacher of DACS,
// CoRTe's refinement network, STvM's teacher): after step t,
//   θ_ema ← α_t θ_ema + (1 − α_t) θ,  α_t = min(1 − 1/(t + 1), α),
// so the average starts as a copy and only slowly stops following the student.
// Buffers (BatchNorm statistics) are copied, as DAFormer does.
#pragma once
#include <torch/torch.h>

#include <string>

#include "models/model.h"

namespace segtransfer {

class EmaModel {
 public:
  // A copy of `model` (same architecture `name`), in eval mode on `device`.
  EmaModel(const std::string& name, SegmentationModelImpl& model, torch::Device device);

  void update(SegmentationModelImpl& model, int64_t iteration, double momentum);
  // The momentum used at `iteration` for the target momentum `momentum`.
  static double momentum_at(int64_t iteration, double momentum);

  SegmentationModelImpl& model() { return *ema_; }
  void save(torch::serialize::OutputArchive& archive, const std::string& key) const;
  void load(torch::serialize::InputArchive& archive, const std::string& key, torch::Device device);

 private:
  SegmentationModel ema_;
  std::vector<torch::Tensor> ema_params_, ema_buffers_;
};

}  // namespace segtransfer
