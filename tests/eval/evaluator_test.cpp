#include "eval/evaluator.h"

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;

namespace {

// A per-pixel (1×1 conv) network: translation-equivariant, so sliding-window and
// whole-image inference must agree.
class PixelModelImpl : public SegmentationModelImpl {
 public:
  explicit PixelModelImpl(int64_t classes)
      : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, classes, 1)))) {}
  SegOutput forward_features(const torch::Tensor& x) override { return {conv(x), x}; }
  int64_t num_classes() const override { return conv->options.out_channels(); }
  int64_t feature_channels() const override { return 3; }
  std::vector<torch::Tensor> head_parameters() override { return conv->parameters(); }
  std::string architecture() const override { return "pixel"; }
  torch::nn::Conv2d conv;
};
TORCH_MODULE(PixelModel);

// Position-dependent: channel 0 is each pixel's x within the network's input,
// channel 1 its y. Reveals how sliding-window crops are placed and averaged.
class RampModelImpl : public SegmentationModelImpl {
 public:
  SegOutput forward_features(const torch::Tensor& x) override {
    const int64_t h = x.size(2), w = x.size(3);
    auto xs = torch::arange(w, x.options()).view({1, 1, 1, w}).expand({x.size(0), 1, h, w});
    auto ys = torch::arange(h, x.options()).view({1, 1, h, 1}).expand({x.size(0), 1, h, w});
    return {torch::cat({xs, ys}, 1), x};
  }
  int64_t num_classes() const override { return 2; }
  int64_t feature_channels() const override { return 3; }
  std::vector<torch::Tensor> head_parameters() override { return {}; }
  std::string architecture() const override { return "ramp"; }
};
TORCH_MODULE(RampModel);

EvalSpec slide_spec(int crop_w, int crop_h, int stride_w, int stride_h) {
  EvalSpec spec;
  spec.mode = "slide";
  spec.crop = {crop_w, crop_h};
  spec.stride = {stride_w, stride_h};
  return spec;
}

// Identity weights: the predicted class is the image's dominant RGB channel.
PixelModel colour_classifier() {
  PixelModel model(3);
  torch::NoGradGuard no_grad;
  model->conv->weight.copy_(torch::eye(3).view({3, 3, 1, 1}));
  model->conv->bias.zero_();
  return model;
}

}  // namespace

TEST(InferLogits, SlideMatchesWholeForAPerPixelModel) {
  torch::manual_seed(0);
  PixelModel model(4);
  model->eval();
  torch::NoGradGuard no_grad;
  const EvalSpec whole;
  struct Case {
    int64_t h, w;
    EvalSpec spec;
  };
  const std::vector<Case> cases = {
      {13, 21, slide_spec(8, 6, 5, 4)},   // sizes not divisible by crop or stride
      {5, 7, slide_spec(8, 6, 5, 4)},     // image smaller than the crop (padded)
      {5, 21, slide_spec(8, 6, 3, 3)},    // smaller in one dimension only
      {16, 16, slide_spec(16, 16, 8, 8)}  // exactly one crop
  };
  for (const auto& c : cases) {
    const auto image = torch::randn({1, 3, c.h, c.w});
    const auto expected = infer_logits(*model, image, whole);
    const auto slid = infer_logits(*model, image, c.spec);
    ASSERT_EQ(slid.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(slid, expected, 1e-5, 1e-5)) << c.h << "x" << c.w;
  }
}

TEST(InferLogits, SlideAveragesOverlappingCrops) {
  RampModel model;
  torch::NoGradGuard no_grad;
  // Width 6, crop 4, stride 2: crops at x 0..3 and 2..5. Height 3 < crop 4: one padded crop.
  const auto logits = infer_logits(*model, torch::zeros({1, 3, 3, 6}), slide_spec(4, 4, 2, 2));
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 2, 3, 6}));
  // x within the crop, averaged where both crops cover: (0), (1), (2+0)/2, (3+1)/2, (2), (3).
  const auto expected_x = torch::tensor({0.f, 1.f, 1.f, 2.f, 2.f, 3.f}).view({1, 6}).expand({3, 6});
  EXPECT_TRUE(torch::allclose(logits[0][0], expected_x)) << logits[0][0];
  const auto expected_y = torch::tensor({0.f, 1.f, 2.f}).view({3, 1}).expand({3, 6});
  EXPECT_TRUE(torch::allclose(logits[0][1], expected_y)) << logits[0][1];
}

TEST(InferLogits, ResizeRunsAtTheGivenSizeAndReturnsTheImageSize) {
  RampModel ramp;
  torch::NoGradGuard no_grad;
  EvalSpec spec;
  spec.resize = {8, 4};  // (w, h)
  const auto logits = infer_logits(*ramp, torch::zeros({1, 3, 12, 16}), spec);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 2, 12, 16}));
  // The model saw an 8-wide input: its x ramp tops out at 7.
  EXPECT_NEAR(logits[0][0].max().item<float>(), 7.f, 1e-5);
  EXPECT_NEAR(logits[0][1].max().item<float>(), 3.f, 1e-5);

  torch::manual_seed(1);
  PixelModel pixel(3);
  const auto flat = torch::full({1, 3, 12, 16}, 0.5);
  EXPECT_TRUE(torch::allclose(infer_logits(*pixel, flat, spec), infer_logits(*pixel, flat, EvalSpec{}), 1e-5, 1e-5));
}

TEST(InferLogits, RejectsBadSpecAndInput) {
  PixelModel model(2);
  torch::NoGradGuard no_grad;
  EvalSpec bad_mode;
  bad_mode.mode = "tiles";
  EXPECT_THROW(infer_logits(*model, torch::zeros({1, 3, 4, 4}), bad_mode), Error);
  EXPECT_THROW(infer_logits(*model, torch::zeros({1, 3, 4, 4}), slide_spec(4, 4, 0, 2)), Error);
  EvalSpec half_resize;
  half_resize.resize = {8, 0};
  EXPECT_THROW(infer_logits(*model, torch::zeros({1, 3, 4, 4}), half_resize), Error);
  EXPECT_THROW(infer_logits(*model, torch::zeros({3, 4, 4}), EvalSpec{}), Error);
}

namespace {

// Two 8×4 images. Image 0: left half red, right half green; its label is 0 on the
// left, 1 on the right's top two rows, 2 on the third row and ignore on the last.
// Image 1: all blue, labelled 2.
std::shared_ptr<SegDataset> write_tiny_dataset(const segtransfer::testing::TempDir& dir) {
  const cv::Vec3b red(0, 0, 255), green(0, 255, 0), blue(255, 0, 0);  // BGR
  cv::Mat image0(4, 8, CV_8UC3, red), label0(4, 8, CV_8UC1, cv::Scalar(0));
  image0(cv::Rect(4, 0, 4, 4)).setTo(green);
  label0(cv::Rect(4, 0, 4, 2)).setTo(1);
  label0(cv::Rect(4, 2, 4, 1)).setTo(2);
  label0(cv::Rect(4, 3, 4, 1)).setTo(255);
  cv::Mat image1(4, 8, CV_8UC3, blue), label1(4, 8, CV_8UC1, cv::Scalar(2));

  std::vector<SampleFiles> files;
  const std::vector<std::pair<cv::Mat, cv::Mat>> pairs = {{image0, label0}, {image1, label1}};
  for (size_t i = 0; i < pairs.size(); ++i) {
    SampleFiles f{(dir / fmt::format("image{}.png", i)).string(), (dir / fmt::format("label{}.png", i)).string(),
                  fmt::format("sample{}", i)};
    cv::imwrite(f.image, pairs[i].first);
    cv::imwrite(f.label, pairs[i].second);
    files.push_back(f);
  }
  LabelSpace space;
  space.name = "tiny";
  space.classes = {"red", "green", "blue"};
  space.colours = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  return std::make_shared<SegDataset>("tiny test set", files, space, IdMap::identity(3));
}

DataSpec raw_pixels() {
  DataSpec data;
  data.mean = {0, 0, 0};
  data.std = {1, 1, 1};
  return data;
}

}  // namespace

TEST(Evaluate, ScoresAKnownPrediction) {
  segtransfer::testing::TempDir dir;
  const auto dataset = write_tiny_dataset(dir);
  auto model = colour_classifier();
  model->train();
  std::vector<size_t> progress;
  const auto r = evaluate(*model, *dataset, EvalSpec{}, raw_pixels(), torch::kCPU, [&](size_t done, size_t total) {
    EXPECT_EQ(total, 2u);
    progress.push_back(done);
  });
  EXPECT_TRUE(model->is_training());  // training mode restored
  EXPECT_EQ(progress, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(r.images, 2);
  EXPECT_GE(r.seconds, 0.0);
  EXPECT_EQ(r.protocol, "all");
  // red: 16/16. green: TP 8, FP 4 (the blue-labelled row). blue: TP 32, FN 4.
  ASSERT_EQ(r.iou.size(), 3u);
  EXPECT_DOUBLE_EQ(r.iou[0], 1.0);
  EXPECT_DOUBLE_EQ(r.iou[1], 8.0 / 12.0);
  EXPECT_DOUBLE_EQ(r.iou[2], 32.0 / 36.0);
  EXPECT_DOUBLE_EQ(r.miou, (1.0 + 8.0 / 12.0 + 32.0 / 36.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.pixel_accuracy, 56.0 / 60.0);
}

TEST(Evaluate, RespectsMaxImagesAndSlideMode) {
  segtransfer::testing::TempDir dir;
  const auto dataset = write_tiny_dataset(dir);
  auto model = colour_classifier();
  model->eval();
  EvalSpec spec = slide_spec(4, 4, 3, 3);
  spec.max_images = 1;
  const auto r = evaluate(*model, *dataset, spec, raw_pixels(), torch::kCPU);
  EXPECT_FALSE(model->is_training());  // eval mode left as it was
  EXPECT_EQ(r.images, 1);
  // Image 0 only: red 16/16, green 8/(8+4), blue 0/4.
  EXPECT_DOUBLE_EQ(r.iou[0], 1.0);
  EXPECT_DOUBLE_EQ(r.iou[1], 8.0 / 12.0);
  EXPECT_DOUBLE_EQ(r.iou[2], 0.0);
  EXPECT_DOUBLE_EQ(r.miou, (1.0 + 8.0 / 12.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.pixel_accuracy, 24.0 / 28.0);
}

TEST(Evaluate, RejectsAModelOfTheWrongClassCount) {
  segtransfer::testing::TempDir dir;
  const auto dataset = write_tiny_dataset(dir);
  PixelModel model(5);
  EXPECT_THROW(evaluate(*model, *dataset, EvalSpec{}, raw_pixels(), torch::kCPU), Error);
}

// eval.mapping: a Cityscapes model scored in CamVid's classes sums the probabilities of
// the Cityscapes classes of each CamVid class before the argmax. Hand-made pixel: road
// 0.45 is the most likely Cityscapes class, but car 0.30 + truck 0.25 make CamVid's Car 0.55.
TEST(Evaluator, MappingSumsProbabilitiesIntoTheTargetClasses) {
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  EvalSpec spec;
  spec.mapping = "cityscapes_to_camvid";
  const ClassMapFn class_map = class_map_of(*model, LabelSpace::camvid11(), spec);
  auto probs = torch::full({1, 19, 1, 2}, 0.0);
  probs[0][0][0][0] = 0.45;   // road
  probs[0][13][0][0] = 0.30;  // car
  probs[0][14][0][0] = 0.25;  // truck
  probs[0][10][0][1] = 1.0;   // sky
  const auto classes = class_map(probs.clamp_min(1e-9).log());
  EXPECT_EQ(classes[0][0][0].item<int64_t>(), 8);  // CamVid Car
  EXPECT_EQ(classes[0][0][1].item<int64_t>(), 0);  // CamVid Sky
  // Without a mapping the same model cannot be scored in CamVid's 11 classes.
  EXPECT_THROW(class_map_of(*model, LabelSpace::camvid11(), EvalSpec{}), Error);
}
