// The student's strong view (DACS/DAFormer): colour jitter and Gaussian blur on
// normalised image tensors, per sample, on the tensors' device. The geometric
// part of the view comes from the loader, so labels need no change here.
#pragma once
#include <torch/torch.h>

#include <array>
#include <random>
#include <string>

namespace segtransfer {

struct RunConfig;

struct StrongAugmentOptions {
  double jitter_strength = 0.2, jitter_p = 0.2, blur_p = 0.5;
  std::array<double, 3> mean{123.675, 116.28, 103.53}, std{58.395, 57.12, 57.375};
  // `<section>.jitter_strength`, `.jitter_p`, `.blur_p` of the config; mean and std of its data.
  static StrongAugmentOptions from_config(const RunConfig& config, const std::string& section);
};

// images: (B, 3, H, W) normalised RGB. Returns the augmented batch (new tensor).
torch::Tensor strong_augment(const torch::Tensor& images, const StrongAugmentOptions& options, std::mt19937_64& rng);

}  // namespace segtransfer
