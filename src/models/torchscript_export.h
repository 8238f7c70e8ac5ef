// Exports a network as a TorchScript file, the form in which a source model is
// handed to `segtransfer query` as a black box (teacher.type: torchscript).
#pragma once
#include <opencv2/core.hpp>
#include <string>

#include "models/model.h"

namespace segtransfer {

// Traces model.forward on a (1, 3, h, w) input with the C++ tracer and writes the
// module to `path` atomically; the module maps a normalised RGB batch to logits at
// its input size. Sizes the network reads from x.sizes() are baked into the trace,
// so the file only accepts `input_size` (w, h): the TorchScript teacher resizes
// every image to it (teacher.input_size). The model's train/eval mode and its
// parameters' requires_grad flags are restored afterwards.
void export_torchscript(SegmentationModelImpl& model, cv::Size input_size, const std::string& path);

}  // namespace segtransfer
