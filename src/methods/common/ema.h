// Exponential moving average of a network's weights (the mean teacher of DACS,
// CoRTe's refinement network, STvM's teacher): after step t,
//   θ_ema ← α_t θ_ema + (1 − α_t) θ,  α_t = min(1 − 1/(t + 1), α),
// so the average starts as a copy and only slowly stops following the student.
// Buffers (BatchNorm statistics) are copied by default, as DAFormer does.
//
// A teacher that starts from a trained model (STvM's source model) must not follow the
// student at first: with the ramp it is the student after one step, so self-training has
// no stable target (on CamVid a source-free run fell further with it: docs/benchmarks.md,
// "Real data: source-free"). EmaStart::kTrained keeps α from step 0.
//
// EmaStatistics::kAveraged averages the floating-point buffers with the weights' α_t
// (timm's ModelEmaV2 does the same), so the statistics fit the averaged weights. Copied
// statistics can fit them badly: a PASCAL-started ESPNetv2 student's EMA on CamVid
// predicted sky everywhere (0.8 mIoU against the student's 39.2) with weights that score
// 31.2 once their statistics are re-estimated.
#pragma once
#include <torch/torch.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "models/model.h"

namespace segtransfer {

enum class EmaStart {
  kRampUp,   // α_t ramps up to α: the average forgets a random or early student
  kTrained,  // α from step 0: the average starts as a trained model
};

enum class EmaStatistics {
  kCopied,    // the student's current BatchNorm statistics
  kAveraged,  // averaged with the weights' α_t
};
inline constexpr std::array<std::pair<std::string_view, EmaStatistics>, 2> kEmaStatistics{
    {{"copied", EmaStatistics::kCopied}, {"averaged", EmaStatistics::kAveraged}}};

class EmaModel {
 public:
  // A copy of `model` (same architecture `name`), in eval mode on `device`.
  EmaModel(const std::string& name, SegmentationModelImpl& model, torch::Device device,
           EmaStart start = EmaStart::kRampUp, EmaStatistics statistics = EmaStatistics::kCopied);

  void update(SegmentationModelImpl& model, int64_t iteration, double momentum);
  // The momentum kRampUp uses at `iteration` for the target momentum `momentum`.
  static double momentum_at(int64_t iteration, double momentum);

  SegmentationModelImpl& model() { return *ema_; }
  void save(torch::serialize::OutputArchive& archive, const std::string& key) const;
  void load(torch::serialize::InputArchive& archive, const std::string& key, torch::Device device);

 private:
  SegmentationModel ema_;
  EmaStart start_;
  EmaStatistics statistics_;
  std::vector<torch::Tensor> ema_params_, ema_buffers_;
};

}  // namespace segtransfer
