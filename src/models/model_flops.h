// Counting the multiply-accumulates (MACs) of the convolutions a model really
// runs, by observing every aten::convolution call through ATen's
// RecordFunction callbacks (LibTorch has no module forward hooks).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "models/model.h"

namespace segtransfer {

// MACs of all convolutions (regular and transposed; bias adds excluded) that
// `run` executes on the calling thread.
int64_t count_conv_macs(const std::function<void()>& run);

// MACs of one forward pass (eval mode, no grad) on a 1×3×height×width input;
// the model's training mode is restored afterwards. FLOPs = 2 × MACs.
int64_t count_conv_macs(SegmentationModelImpl& model, int64_t height, int64_t width);

}  // namespace segtransfer
