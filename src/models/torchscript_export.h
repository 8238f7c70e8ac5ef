// Exports a network as a TorchScript file, the form in which a source model is
// handed to `segtransfer query` as a black box (teacher.type: torchscript).
#pragma once
#include <opencv2/core.hpp>
#include <memory>
#include <string>

#include "models/model.h"

namespace torch::jit {
struct Graph;
}

namespace segtransfer {

// model.forward traced with the C++ tracer on a zero (1, 3, h, w) input in eval
// mode without gradients: the weights are constants of the graph, every size is
// baked in. The model's mode and requires_grad flags are restored afterwards.
// Shared by the TorchScript and the ONNX export.
std::shared_ptr<torch::jit::Graph> trace_forward(SegmentationModelImpl& model, cv::Size input_size);

// Traces model.forward on a (1, 3, h, w) input with the C++ tracer and writes the
// module to `path` atomically; the module maps a normalised RGB batch to logits at
// its input size. Sizes being baked into the trace, the file only accepts
// `input_size` (w, h): the TorchScript teacher resizes every image to it
// (teacher.input_size).
void export_torchscript(SegmentationModelImpl& model, cv::Size input_size, const std::string& path);

}  // namespace segtransfer
