// STvM (Akkaya & Halici): source-free self-training. Student and mean teacher
// start from the white-box source model; every teacher pseudo-label is kept, its
// cross-entropy weighted by a reliability that a metric head, trained online with
// the Proxy-Anchor loss on the teacher's encoder features, assigns to it; the
// student sees a metric-guided ClassMix of the target batch under the strong view.
#pragma once
#include "methods/common/ema.h"
#include "methods/common/metric_learning.h"
#include "methods/common/self_training.h"
#include "methods/method.h"

namespace segtransfer {

// What weighs each pseudo-label's cross-entropy: the metric head's reliability (STvM),
// DACS's confident share (the thresholded mean teacher), or class_relative_pseudo_labels.
enum class StvmWeighting { kReliability, kThreshold, kClassRelative };

struct StvmOptions {
  std::string source_weights;
  int64_t embedding_dim = 64, max_anchor_pixels = 4096;
  double alpha = 32, delta = 0.1, sharpen = 1, metric_weight = 1;
  bool metric_mix = true;
  bool freeze_backbone = false;  // the student adapts its decoder only (docs/benchmarks.md, source-free)
  StvmWeighting weighting = StvmWeighting::kReliability;
  bool balance_reliability = false;  // class_balanced_reliability: the metric head's class prior removed
  static StvmOptions from_config(const RunConfig& config);  // the `stvm:` section
};

// Reliability of each pseudo-label, as the weights of Stvm::train_step: the metric
// head's embeddings (N, D, h, w) of the teacher's features and the teacher's labels
// (N, H, W) at the input's size → (N, H, W): proxy_reliability at the labels
// nearest-resized to the feature grid, upsampled bilinearly, raised to `sharpen`, with
// `balance_reliability` class-balanced (the ignored rows not yet zeroed). No gradient.
torch::Tensor stvm_reliability(const torch::Tensor& embeddings, const torch::Tensor& labels,
                               const torch::Tensor& proxies, const StvmOptions& options);

// The EMA teacher and metric head a run saved (Stvm::save_state), for diagnostics:
// both in eval mode on `device`.
struct StvmTeacher {
  SegmentationModel model{nullptr};
  MetricHead metric{nullptr};
  StvmOptions options;
};
// `method_state`: a checkpoint's method part. Throws Error when it holds no STvM state.
StvmTeacher load_stvm_teacher(torch::serialize::InputArchive& method_state, const RunConfig& config,
                              torch::Device device);

class Stvm : public TrainingMethod {
 public:
  explicit Stvm(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;
  std::vector<torch::Tensor> trainable_parameters() override { return metric_->parameters(); }
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;

 private:
  // Diagnostics where the target has labels (they never enter the loss): how often the
  // pseudo-labels are right, and the mean reliability of the right and the wrong ones.
  void record_reliability_diagnostics(const torch::Tensor& labels, const torch::Tensor& reliability,
                                      const Batch& target, StepStats& stats) const;

  StvmOptions options_;
  SelfTrainingOptions self_training_;
  DataLoader& target_;
  EmaModel teacher_;
  MetricHead metric_;
  // The label-space id of each pseudo-label class (eval.mapping; -1: no label class),
  // for the diagnostics; undefined when the target has no labels.
  torch::Tensor truth_class_of_;
};

}  // namespace segtransfer
