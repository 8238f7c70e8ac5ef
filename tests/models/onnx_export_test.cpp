#include "models/onnx_export.h"

#include <gtest/gtest.h>

#include <opencv2/dnn.hpp>

#include "core/atomic_file.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "eval/onnx_segmenter.h"
#include "models/batch_norm.h"
#include "models/model.h"
#include "test_util.h"

namespace segtransfer {
namespace {

constexpr std::array<double, 3> kMean{123.675, 116.28, 103.53}, kStd{58.395, 57.12, 57.375};

cv::Mat run_opencv_dnn(const std::string& path, const torch::Tensor& x) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  const int shape[] = {1, 3, static_cast<int>(x.size(2)), static_cast<int>(x.size(3))};
  net.setInput(cv::Mat(4, shape, CV_32F, x.contiguous().data_ptr<float>()), "image");
  return net.forward("logits").clone();
}

class OnnxEveryModel : public ::testing::TestWithParam<std::string> {};

// The exported graph, run by OpenCV's DNN module, reproduces LibTorch's logits on
// a synthetic target-domain image (what `segtransfer predict --onnx` relies on).
TEST_P(OnnxEveryModel, OpenCvDnnMatchesLibTorch) {
  testing::TempDir dir;
  torch::manual_seed(0);
  SegmentationModel model = make_model(GetParam(), 19);
  testing::randomise_batch_norm(*model);
  model->eval();
  const cv::Size size(160, 96);  // not a multiple of every stride: the resizes must match too
  const cv::Mat image = render_synthetic_scene(SynthDomain::Target, 3, size).image;
  const torch::Tensor x = image_to_tensor(image, kMean, kStd).unsqueeze(0);
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(x).contiguous();
  }
  const std::string path = (dir / "model.onnx").string();
  const OnnxExportSummary summary = export_onnx(*model, size, path);
  EXPECT_GT(summary.nodes, 10);
  EXPECT_GT(summary.folded_batch_norms, 0);

  const cv::Mat got = run_opencv_dnn(path, x);
  ASSERT_EQ(got.dims, 4);
  ASSERT_EQ(std::vector<int>(got.size.p, got.size.p + 4), (std::vector<int>{1, 19, size.height, size.width}));
  const torch::Tensor got_t = torch::from_blob(const_cast<float*>(got.ptr<float>()), expected.sizes(), torch::kFloat);
  const double diff = (got_t - expected).abs().max().item<double>();
  EXPECT_LE(diff, 1e-3) << "logit scale " << expected.abs().max().item<double>();
  // Not a constant output: the logits vary over the image.
  EXPECT_GT(expected.std().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxEveryModel,
                         ::testing::Values("lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet",
                                           "espnetv2_s0.5", "espnetv2_s1", "espnetv2_s1.5", "espnetv2_s2",
                                           "deeplabv3_resnet50", "deeplabv2_resnet101"));

// A network using an operator without a translation: the error names it, no file is left.
class TanhModelImpl : public SegmentationModelImpl {
 public:
  TanhModelImpl() { conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 2, 1))); }
  SegOutput forward_features(const torch::Tensor& x) override {
    auto y = torch::tanh(conv(x));
    return {y, y};
  }
  int64_t num_classes() const override { return 2; }
  int64_t feature_channels() const override { return 2; }
  std::vector<torch::Tensor> head_parameters() override { return parameters(); }
  std::string architecture() const override { return "tanh_test"; }
  torch::nn::Conv2d conv{nullptr};
};

TEST(OnnxExport, UnsupportedOperatorIsNamed) {
  testing::TempDir dir;
  TanhModelImpl model;
  const std::string path = (dir / "m.onnx").string();
  const std::string error = testing::error_of([&] { export_onnx(model, cv::Size(8, 8), path); });
  EXPECT_TRUE(testing::contains(error, "aten::tanh")) << error;
  EXPECT_FALSE(std::filesystem::exists(path));
}

// Adaptive average pooling of a convolution to one output size (forward upsamples it back).
class AdaptivePoolModelImpl : public SegmentationModelImpl {
 public:
  explicit AdaptivePoolModelImpl(std::vector<int64_t> size) : size_(std::move(size)) {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 2, 3).padding(1)));
  }
  SegOutput forward_features(const torch::Tensor& x) override {
    auto y = torch::adaptive_avg_pool2d(conv(x), size_);
    return {y, y};
  }
  int64_t num_classes() const override { return 2; }
  int64_t feature_channels() const override { return 2; }
  std::vector<torch::Tensor> head_parameters() override { return parameters(); }
  std::string architecture() const override { return "adaptive_pool_test"; }
  torch::nn::Conv2d conv{nullptr};

 private:
  std::vector<int64_t> size_;
};

class OnnxAdaptivePool : public ::testing::TestWithParam<std::vector<int64_t>> {};

// Each translation of an 8x12 input's pooling: global, equal windows (AveragePool),
// uneven windows along W only, along H only, along both, more outputs than inputs.
TEST_P(OnnxAdaptivePool, OpenCvDnnMatchesLibTorch) {
  testing::TempDir dir;
  torch::manual_seed(2);
  AdaptivePoolModelImpl model(GetParam());
  model.eval();
  const torch::Tensor x = torch::randn({1, 3, 8, 12});
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model.forward(x).contiguous();
  }
  const std::string path = (dir / "pool.onnx").string();
  export_onnx(model, cv::Size(12, 8), path);
  const cv::Mat got = run_opencv_dnn(path, x);
  ASSERT_EQ(got.total(), static_cast<size_t>(expected.numel()));
  const torch::Tensor got_t = torch::from_blob(const_cast<float*>(got.ptr<float>()), expected.sizes(), torch::kFloat);
  EXPECT_LE((got_t - expected).abs().max().item<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Sizes, OnnxAdaptivePool,
                         ::testing::Values(std::vector<int64_t>{1, 1}, std::vector<int64_t>{4, 6},
                                           std::vector<int64_t>{8, 5}, std::vector<int64_t>{3, 12},
                                           std::vector<int64_t>{5, 7}, std::vector<int64_t>{11, 17}));

TEST(OnnxSegmenter, PredictsAtTheImageSizeFromTheSidecar) {
  testing::TempDir dir;
  torch::manual_seed(1);
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  model->eval();
  const std::string path = (dir / "student.onnx").string();
  export_onnx(*model, cv::Size(64, 32), path);
  OnnxSidecar sidecar;
  sidecar.architecture = model->architecture();
  sidecar.labels = LabelSpace::cityscapes19();
  sidecar.mean = kMean;
  sidecar.std = kStd;
  sidecar.input_size = cv::Size(64, 32);
  sidecar.opset = kOnnxOpset;
  sidecar.onnx_file = "student.onnx";
  sidecar.write(sidecar_path_of(path));

  OnnxSegmenter segmenter(path);
  EXPECT_EQ(segmenter.info().labels.classes, LabelSpace::cityscapes19().classes);
  EXPECT_EQ(segmenter.info().labels.colours, LabelSpace::cityscapes19().colours);
  const cv::Mat image = render_synthetic_scene(SynthDomain::Target, 0, cv::Size(64, 32)).image;
  const cv::Mat label = segmenter.predict(image);
  ASSERT_EQ(label.size(), image.size());
  // The argmax of LibTorch's logits, pixel for pixel (same size: no resize on either side).
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(image_to_tensor(image, kMean, kStd).unsqueeze(0)).argmax(1)[0].to(torch::kU8);
  const cv::Mat expected_mat(32, 64, CV_8UC1, expected.contiguous().data_ptr<uint8_t>());
  EXPECT_LE(cv::countNonZero(label != expected_mat), 2);
  // A bigger image comes back at its own size.
  EXPECT_EQ(segmenter.predict(render_synthetic_scene(SynthDomain::Target, 0, cv::Size(128, 64)).image).size(),
            cv::Size(128, 64));
}

TEST(OnnxSidecar, BadSidecarNamesFileAndKey) {
  testing::TempDir dir;
  const auto path = dir / "s.json";
  EXPECT_TRUE(testing::contains(testing::error_of([&] { OnnxSidecar::read(path.string()); }), "missing"));
  write_text_atomically(path, "{not json");
  EXPECT_TRUE(testing::contains(testing::error_of([&] { OnnxSidecar::read(path.string()); }), "not valid JSON"));
  write_text_atomically(path, R"({"format": "segtransfer-onnx-1", "architecture": "x", "onnx": "a", "checkpoint": "b",
                                  "opset": 13, "input": {"shape": [1, 3, 32]}})");
  const std::string error = testing::error_of([&] { OnnxSidecar::read(path.string()); });
  EXPECT_TRUE(testing::contains(error, "s.json")) << error;
  EXPECT_TRUE(testing::contains(error, "input.shape")) << error;
}

}  // namespace
}  // namespace segtransfer
