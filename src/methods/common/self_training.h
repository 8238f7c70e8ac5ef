// The DACS / DAFormer self-training step's target half, shared by every UDA
// method (dacs, dual_teacher, clda): an EMA teacher's pseudo-labels on the target
// images, weighted by the share of confident pixels, with the ego-car and sky
// rows ignored; ClassMix of the source images (their labels) onto the target
// images (their pseudo-labels); the strong view of the mixed images.
#pragma once
#include <torch/torch.h>

#include <random>

#include "core/config.h"
#include "methods/common/strong_augment.h"
#include "methods/method.h"
#include "models/model.h"

namespace segtransfer {

struct SelfTrainingOptions {
  double pseudo_threshold = 0.968;  // on max probability
  double ema_momentum = 0.999;
  int ignore_top = 15, ignore_bottom = 120;  // pseudo-label rows given weight 0 (of the crop)
  bool mix = true;                           // ClassMix source onto target; false: the target alone
  bool strong_augment = true;
  StrongAugmentOptions strong;
  // The `self_training:` section of the config.
  static SelfTrainingOptions from_config(const RunConfig& config);
};

// A teacher's pseudo-labels: argmax, max probability, and the per-pixel weight
// (the image's share of pixels with max probability ≥ threshold; 0 in the
// ignored rows).
struct PseudoLabels {
  torch::Tensor labels;      // (B, H, W) int64
  torch::Tensor confidence;  // (B, H, W) max probability
  torch::Tensor weight;      // (B, H, W)
};
PseudoLabels confident_pseudo_labels(const torch::Tensor& teacher_logits, const SelfTrainingOptions& options);

// CoRTe's rule for a teacher that answers online (CBST's class balance): a pixel's
// weight is 1 where its relative confidence p1 − p2 is at least the mean p1 − p2 of the
// pixels with its argmax in the batch, else 0 — every class the teacher answers keeps
// its more confident part, where one threshold on p1 keeps almost none of the thin
// classes. `confidence` is p1 − p2; the ignored rows weigh 0.
PseudoLabels class_relative_pseudo_labels(const torch::Tensor& teacher_logits, const SelfTrainingOptions& options);

// Zeroes the first `top` and last `bottom` rows of (B, H, W) weights (when the
// crop is tall enough to keep something between them).
torch::Tensor ignore_rows(const torch::Tensor& weight, int top, int bottom);

struct MixedBatch {
  torch::Tensor images;  // (B, 3, H, W), strong view
  torch::Tensor labels;  // (B, H, W): source labels where pasted, pseudo-labels elsewhere
  torch::Tensor weight;  // (B, H, W): 1 where pasted, the pseudo-label weight elsewhere
  torch::Tensor masks;   // (B, H, W) bool: pasted from the source
};

// Image i of the target batch gets half of the classes of source image i pasted on it.
MixedBatch class_mix_source_onto_target(const torch::Tensor& source_images, const torch::Tensor& source_labels,
                                        const torch::Tensor& target_images, const PseudoLabels& pseudo,
                                        const SelfTrainingOptions& options, std::mt19937_64& rng);

// Logs of a self-training step: confident share, pseudo-label weight, pseudo-label
// accuracy where the target batch carries ground truth (diagnostics only).
void log_pseudo_labels(const PseudoLabels& pseudo, const torch::Tensor& truth, const std::string& prefix,
                       StepStats& stats);

}  // namespace segtransfer
