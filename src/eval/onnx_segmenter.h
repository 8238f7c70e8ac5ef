// The deployment path: an exported ONNX student run by OpenCV's DNN module, with
// nothing of LibTorch (`segtransfer predict --onnx`; what a device would embed).
#pragma once
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <array>
#include <string>

#include "data/label_space.h"

namespace segtransfer {

// What a deployment needs besides the graph, written next to it as <stem>.json:
// the label space, the input normalisation and the size the graph was traced at.
struct OnnxSidecar {
  std::string architecture;
  LabelSpace labels;
  std::array<double, 3> mean{}, std{};  // RGB, pixel values 0..255: input = (pixel - mean) / std
  cv::Size input_size;                  // (w, h) the graph takes
  int64_t opset = 0;
  std::string onnx_file, checkpoint_file;  // names relative to the sidecar's folder

  void write(const std::string& path) const;         // atomically
  static OnnxSidecar read(const std::string& path);  // Error naming the file and the key on bad input
};

std::string sidecar_path_of(const std::string& onnx_path);  // x.onnx -> x.json

class OnnxSegmenter {
 public:
  // Reads the graph and its sidecar; Error naming the file when either is unreadable.
  explicit OnnxSegmenter(const std::string& onnx_path);

  // Logits (1, C, h, w) at the graph's input size for a BGR image of any size
  // (resized bilinearly to the input size first).
  cv::Mat logits(const cv::Mat& bgr);
  // Class indices (CV_8UC1) at the image's own size: logits resized back bilinearly, then argmax.
  cv::Mat predict(const cv::Mat& bgr);

  const OnnxSidecar& info() const { return info_; }

 private:
  OnnxSidecar info_;
  cv::dnn::Net net_;
};

}  // namespace segtransfer
