// Optimiser construction (backbone and head parameter groups) and the learning-rate
// schedule: linear warm-up, then polynomial decay (mmcv's PolyLrUpdaterHook, as
// DAFormer uses it).
#pragma once
#include <torch/torch.h>

#include <memory>

#include "core/config.h"
#include "models/model.h"

namespace segtransfer {

// Learning rate of the backbone group at `iteration` (0-based) of `total`.
double scheduled_lr(const OptimSpec& spec, int64_t iteration, int64_t total);

// Group 0: backbone parameters at lr; group 1: head parameters at lr × head_lr_mult.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSpec& spec, SegmentationModelImpl& model);

// Sets group 0 to `lr` and every further group to lr × head_lr_mult.
void set_learning_rate(torch::optim::Optimizer& optimizer, const OptimSpec& spec, double lr);

}  // namespace segtransfer
