#include "eval/onnx_segmenter.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/transforms.h"

namespace segtransfer {
namespace fs = std::filesystem;

void OnnxSidecar::write(const std::string& path) const {
  nlohmann::json classes = nlohmann::json::array();
  for (size_t i = 0; i < labels.classes.size(); ++i) {
    const cv::Vec3b c = labels.colours[i];
    classes.push_back({{"name", labels.classes[i]}, {"colour", {c[0], c[1], c[2]}}});
  }
  const nlohmann::json j = {
      {"format", "segtransfer-onnx-1"},
      {"architecture", architecture},
      {"onnx", onnx_file},
      {"checkpoint", checkpoint_file},
      {"opset", opset},
      {"input",
       {{"name", "image"},
        {"shape", {1, 3, input_size.height, input_size.width}},
        {"layout", "NCHW, RGB, float32"},
        {"normalisation", "(pixel - mean) / std, pixel in 0..255"},
        {"mean", mean},
        {"std", std}}},
      {"output", {{"name", "logits"}, {"shape", {1, labels.num_classes(), input_size.height, input_size.width}}}},
      {"label_space", {{"name", labels.name}, {"ignore_index", labels.ignore_index}, {"classes", classes}}},
  };
  write_text_atomically(path, j.dump(2) + "\n");
}

OnnxSidecar OnnxSidecar::read(const std::string& path) {
  if (!fs::exists(path))
    throw Error(fmt::format("{}: missing (segtransfer export writes it next to the .onnx file)", path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  std::string key;
  try {
    OnnxSidecar s;
    key = "format";
    if (j.at(key).get<std::string>() != "segtransfer-onnx-1")
      throw Error(fmt::format("{}: unknown format '{}'", path, j.at(key).get<std::string>()));
    key = "architecture";
    s.architecture = j.at(key).get<std::string>();
    key = "onnx";
    s.onnx_file = j.at(key).get<std::string>();
    key = "checkpoint";
    s.checkpoint_file = j.at(key).get<std::string>();
    key = "opset";
    s.opset = j.at(key).get<int64_t>();
    key = "input.shape";
    const auto shape = j.at("input").at("shape").get<std::vector<int>>();
    if (shape.size() != 4 || shape[0] != 1 || shape[1] != 3 || shape[2] < 1 || shape[3] < 1)
      throw Error(fmt::format("{}: input.shape must be [1, 3, h, w]", path));
    s.input_size = cv::Size(shape[3], shape[2]);
    key = "input.mean";
    s.mean = j.at("input").at("mean").get<std::array<double, 3>>();
    key = "input.std";
    s.std = j.at("input").at("std").get<std::array<double, 3>>();
    for (double v : s.std)
      if (!(v > 0)) throw Error(fmt::format("{}: input.std must be positive", path));
    key = "label_space";
    const auto& space = j.at(key);
    s.labels.name = space.at("name").get<std::string>();
    s.labels.ignore_index = space.at("ignore_index").get<int>();
    for (const auto& c : space.at("classes")) {
      s.labels.classes.push_back(c.at("name").get<std::string>());
      const auto rgb = c.at("colour").get<std::array<int, 3>>();
      s.labels.colours.emplace_back(rgb[0], rgb[1], rgb[2]);
    }
    if (s.labels.classes.empty() || s.labels.classes.size() > 255)
      throw Error(fmt::format("{}: label_space.classes must list 1 to 255 classes", path));
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: key '{}' missing or of the wrong type", path, key));
  }
}

std::string sidecar_path_of(const std::string& onnx_path) {
  return fs::path(onnx_path).replace_extension(".json").string();
}

OnnxSegmenter::OnnxSegmenter(const std::string& onnx_path) : info_(OnnxSidecar::read(sidecar_path_of(onnx_path))) {
  if (!fs::exists(onnx_path)) throw Error(onnx_path + ": no such file");
  try {
    net_ = cv::dnn::readNetFromONNX(onnx_path);
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("{}: OpenCV DNN cannot read it: {}", onnx_path, e.msg));
  }
  if (net_.empty()) throw Error(onnx_path + ": OpenCV DNN read an empty network");
  net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
}

cv::Mat OnnxSegmenter::logits(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw Error(fmt::format("ONNX segmenter: expected an 8-bit BGR image, got {}", cv::typeToString(bgr.type())));
  cv::Mat resized = bgr;
  if (bgr.size() != info_.input_size) cv::resize(bgr, resized, info_.input_size, 0, 0, cv::INTER_LINEAR);
  // The training normalisation, written into an NCHW blob.
  const int shape[] = {1, 3, info_.input_size.height, info_.input_size.width};
  cv::Mat blob(4, shape, CV_32F);
  write_normalised_rgb(resized, info_.mean, info_.std, blob.ptr<float>());
  net_.setInput(blob, "image");
  cv::Mat out = net_.forward("logits");
  const int classes = info_.labels.num_classes();
  if (out.dims != 4 || out.size[0] != 1 || out.size[1] != classes || out.size[2] != shape[2] || out.size[3] != shape[3])
    throw Error(fmt::format("ONNX segmenter: the graph returned logits of the wrong shape (expected (1, {}, {}, {}))",
                            classes, shape[2], shape[3]));
  if (!cv::checkRange(out)) throw Error("ONNX segmenter: the graph returned NaN or infinite logits");
  return out;
}

cv::Mat OnnxSegmenter::predict(const cv::Mat& bgr) {
  const cv::Mat out = logits(bgr);
  const int classes = out.size[1];
  const cv::Size model_size(out.size[3], out.size[2]);
  cv::Mat best(bgr.size(), CV_32FC1, cv::Scalar(-std::numeric_limits<float>::infinity()));
  cv::Mat label(bgr.size(), CV_8UC1, cv::Scalar(0)), plane, better;
  for (int c = 0; c < classes; ++c) {
    const cv::Mat at_model(model_size, CV_32FC1, const_cast<float*>(out.ptr<float>(0, c)));
    if (model_size == bgr.size())
      plane = at_model;
    else
      cv::resize(at_model, plane, bgr.size(), 0, 0, cv::INTER_LINEAR);
    cv::compare(plane, best, better, cv::CMP_GT);  // first maximum wins, as argmax does
    plane.copyTo(best, better);
    label.setTo(c, better);
  }
  return label;
}

}  // namespace segtransfer
