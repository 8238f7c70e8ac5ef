// Optimiser construction (backbone and head parameter groups) and the learning-rate
// schedule: linear warm-up, then polynomial decay (mmcv's PolyLrUpdaterHook, as
// DAFormer uses it).
#pragma once
#include <torch/torch.h>

#include <memory>

#include "core/config.h"
#include "models/model.h"

namespace segtransfer {

// Learning rate of the backbone group at `iteration` (0-based): the warm-up counts
// iterations, the decay follows `progress`, the share of the run done (0..1).
double scheduled_lr(const OptimSpec& spec, int64_t iteration, double progress);

// Group 0: backbone parameters at lr; group 1: head parameters at lr × head_lr_mult.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSpec& spec, SegmentationModelImpl& model);

// Adds `parameters` (a method's own modules: adapters, metric heads) as one more
// group with the head group's options; the schedule then treats it as the head.
void add_head_group(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor> parameters);

// Sets group 0 to `lr` and every further group to lr × head_lr_mult.
void set_learning_rate(torch::optim::Optimizer& optimizer, const OptimSpec& spec, double lr);

}  // namespace segtransfer
