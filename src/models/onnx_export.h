// ONNX export of a network for deployment without LibTorch (OpenCV DNN, ONNX
// Runtime, TensorRT). PyTorch's exporter lives in Python (torch.onnx's symbolic
// functions) and LibTorch ships none, so the operators our networks use are
// translated here from the traced graph into Debian's libonnx protobuf messages.
#pragma once
#include <opencv2/core/types.hpp>

#include <cstdint>
#include <string>

namespace segtransfer {

class SegmentationModelImpl;

// The operator set the exported graph declares (Resize with sizes, Clip with inputs).
constexpr int64_t kOnnxOpset = 13;

struct OnnxExportSummary {
  int64_t nodes = 0;
  int64_t initializers = 0;        // weight tensors
  int64_t folded_batch_norms = 0;  // BatchNorms folded into the convolution before them
};

// Folds the model's BatchNorms into their convolutions (the model is for
// inference only afterwards), traces forward at input_size (w, h) and writes an
// ONNX model atomically: input "image" (1, 3, h, w) float, normalised RGB; output
// "logits" (1, C, h, w). The graph is checked with onnx::checker before writing.
// Throws Error naming the operator when the network uses one without a translation.
OnnxExportSummary export_onnx(SegmentationModelImpl& model, cv::Size input_size, const std::string& path);

}  // namespace segtransfer
