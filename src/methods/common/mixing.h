// ClassMix (Olsson et al. 2021, as DACS uses it): paste the pixels of half of the
// classes present in image a onto image b; the labels are mixed with the same mask.
#pragma once
#include <torch/torch.h>

#include <random>

namespace segtransfer {

// (H, W) bool mask of the pixels of a random half (rounded up) of the classes
// present in `labels` (H, W int64; 255 = ignore is never picked). Empty of
// classes → all false.
torch::Tensor class_mix_mask(const torch::Tensor& labels, std::mt19937_64& rng);

// Metric-guided ClassMix (STvM): half (rounded up) of the classes present in
// `labels` (H, W), drawn without replacement with probability proportional to
// their mean `reliability` (H, W); of each drawn class only the pixels above the
// class's median reliability.
torch::Tensor reliable_class_mix_mask(const torch::Tensor& labels, const torch::Tensor& reliability,
                                      std::mt19937_64& rng);

// out = mask ? a : b, for images (B, C, H, W) and labels/weights (B, H, W);
// `masks` (B, H, W) bool.
torch::Tensor mix(const torch::Tensor& masks, const torch::Tensor& a, const torch::Tensor& b);

// Mixes batch element i with element (i + 1) mod B: out[i] = mask[i] ? a[i] : a[i + 1].
// `masks` (B, H, W) bool; works for images (B, C, H, W) and labels/weights (B, H, W).
torch::Tensor mix_with_next(const torch::Tensor& masks, const torch::Tensor& batch);

}  // namespace segtransfer
