// CoRTe (Cuttano et al., ICCVW 2023): a lightweight student learns the target
// domain from a black-box source model's stored answers (segtransfer query).
//   (i)   relative-confidence pseudo-labels: keep top-1 class c where p1 − p2 ≥ τ_c,
//         τ_c computed once over the whole target set;
//   (ii)  refinement: after a warm-up, and only while the student's EMA agrees with
//         the kept black-box labels, pixels where the EMA is more relatively
//         confident take its label (capped per class);
//   (iii) consistent training: labels from the weak view, the student sees a strong
//         view and a ClassMix of two target images.
// The black-box distillation baselines run through the same class with parts
// switched off (plain_distill, soft_distill, threshold_distill); see docs/methods.md.
#pragma once
#include <memory>
#include <random>
#include <vector>

#include "methods/common/ema.h"
#include "methods/common/pseudo_labels.h"
#include "methods/common/strong_augment.h"
#include "methods/method.h"

namespace segtransfer {

struct CorteOptions {
  PseudoLabelKind pseudo_labels = PseudoLabelKind::kRelative;
  ThresholdScope thresholds = ThresholdScope::kPerClass;
  ThresholdStatistic statistic = ThresholdStatistic::kMean;
  double percentile = 50, fixed_threshold = 0.968;
  double soft_until = 0, temperature = 1;
  bool refine = true;
  double refine_start = 0.25, refine_min_agreement = 0.75, refine_max_replaced = 0.2;
  double ema_momentum = 0.999;
  EmaStatistics ema_statistics = EmaStatistics::kCopied;
  bool mix = true, plain_view = false, strong_augment = true, kept_share_weight = true;
  double class_balance = 0;  // loss weight of class c ∝ (its share of the black box's top-1 pixels)^-class_balance
  StrongAugmentOptions strong;
  int diagnostics_every = 500;
  bool evaluate_ema = false;  // the EMA is the evaluated (and exported) model

  // The `corte:` section, with the parts a baseline method fixes overridden.
  static CorteOptions for_method(const RunConfig& config);
  ThresholdRule threshold_rule() const { return {pseudo_labels, thresholds, statistic, percentile, fixed_threshold}; }
};

class Corte : public TrainingMethod {
 public:
  explicit Corte(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;
  SegmentationModelImpl& model_to_evaluate() override;
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;

 private:
  struct Refinement {
    torch::Tensor labels;             // refined pseudo-labels (B, H, W)
    double replaced = 0, filled = 0;  // shares of the pixels
  };
  // A view the student trains on: images and what its loss compares against.
  struct View {
    torch::Tensor images, labels, soft_target, valid;
  };
  void compute_thresholds(const PredictionStore& store, const SegDataset& target);
  std::vector<View> training_views(const torch::Tensor& images, const torch::Tensor& labels, const TopKBatch& answers,
                                   bool soft, std::mt19937_64& rng) const;
  torch::Tensor student_loss(const std::vector<View>& views, std::mt19937_64& rng);
  void record_kept(const torch::Tensor& taught, const Batch& batch, StepStats& stats) const;
  // The loss of one view: hard pseudo-labels (CE), or with soft_target the soft KL.
  torch::Tensor view_loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& soft_target,
                          const torch::Tensor& valid) const;
  Refinement refine(const torch::Tensor& images, const torch::Tensor& labels, const TopKBatch& answers, double progress,
                    StepStats& stats);
  void write_diagnostics(int64_t iteration, const Batch& batch, const torch::Tensor& black_box_labels,
                         const torch::Tensor& labels);

  CorteOptions opt_;
  Confidence confidence_kind_ = Confidence::kRelative;
  std::shared_ptr<SegDataset> target_dataset_;
  DataLoader* target_ = nullptr;
  torch::Tensor thresholds_;     // (C) on the device
  torch::Tensor class_weights_;  // (C) on the device: corte.class_balance
  std::unique_ptr<EmaModel> ema_;
  // Running class-wise mean of the EMA's relative confidence (its τ^ema_c), and of
  // its agreement with the kept black-box labels (the refinement guard).
  torch::Tensor ema_thresholds_;
  double agreement_ = 0;
  int64_t num_classes_ = 0;
};

}  // namespace segtransfer
