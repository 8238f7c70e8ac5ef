// Losses shared by the self-training and distillation methods.
#pragma once
#include <torch/torch.h>

namespace segtransfer {

// Per-pixel cross-entropy (255 = ignore contributes 0) times `pixel_weight`
// (broadcast to (B, H, W): a per-image share of kept pixels as in DACS, or a
// per-pixel reliability), averaged over all pixels.
torch::Tensor weighted_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                     const torch::Tensor& pixel_weight);

// Class-balancing weights from per-class pixel counts: w_c ∝ share_c^-power, scaled
// so that the pixels' mean weight is 1; a class with no pixels gets weight 0. (C) float.
torch::Tensor class_balance_weights(const std::vector<double>& pixels, double power);

// Share of non-ignored pixels per image: (B, 1, 1), the DACS pseudo-label weight.
torch::Tensor kept_share_weight(const torch::Tensor& labels);

// T² · KL(target ‖ softmax(logits / T)) summed over classes, averaged over the
// pixels where `valid` (B, H, W) is true. `target`: (B, C, H, W) probabilities.
torch::Tensor soft_distillation_loss(const torch::Tensor& logits, const torch::Tensor& target,
                                     const torch::Tensor& valid, double temperature);

}  // namespace segtransfer
