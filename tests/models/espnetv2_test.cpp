#include "models/espnetv2.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/core.hpp>

#include "test_util.h"

#include "core/error.h"
#include "data/loader.h"
#include "models/model.h"
#include "models/weight_import.h"

using namespace segtransfer;
using namespace segtransfer::testing;

namespace {

std::string published_checkpoint(const std::string& width) {
  return std::string(SEGTRANSFER_SOURCE_DIR) + "/../shared/weights/espnetv2/espnetv2_s_" + width +
         "_pascal_384x384.pth";
}

bool is_buffer_name(const std::string& name) {
  for (const std::string suffix : {"running_mean", "running_var", "num_batches_tracked"}) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

}  // namespace

// EdgeNets' names and shapes (s = 2.0, 21 classes, as in espnetv2_s_2.0_pascal_384x384.pth).
TEST(ESPNetv2, ReferenceParameterNames) {
  ESPNetv2 model(ESPNetv2Options(21).width(2.0));
  EXPECT_EQ(shape_of(*model, "base_net.level1.conv.weight"), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.eesp.proj_1x1.conv.weight"), (std::vector<int64_t>{24, 8, 1, 1}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.eesp.spp_dw.3.conv.weight"), (std::vector<int64_t>{24, 1, 3, 3}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.eesp.conv_1x1_exp.conv.weight"), (std::vector<int64_t>{96, 24, 1, 1}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.eesp.module_act.weight"), (std::vector<int64_t>{96}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.inp_reinf.0.conv.weight"), (std::vector<int64_t>{3, 3, 3, 3}));
  EXPECT_EQ(shape_of(*model, "base_net.level2_0.inp_reinf.1.bn.running_var"), (std::vector<int64_t>{128}));
  EXPECT_EQ(shape_of(*model, "base_net.level3.2.br_after_cat.act.weight"), (std::vector<int64_t>{256}));
  EXPECT_EQ(shape_of(*model, "base_net.level4.6.proj_1x1.conv.weight"), (std::vector<int64_t>{128, 128, 1, 1}));
  EXPECT_EQ(model->named_parameters().find("base_net.level4.7.proj_1x1.conv.weight"), nullptr);  // 7 units
  EXPECT_EQ(shape_of(*model, "bu_dec_l1.projection_layer.cbr.0.weight"), (std::vector<int64_t>{10, 512, 1, 1}));
  EXPECT_EQ(shape_of(*model, "bu_dec_l1.stages.4.weight"), (std::vector<int64_t>{10, 1, 3, 3}));
  EXPECT_EQ(shape_of(*model, "bu_dec_l1.merge_layer.0.br.1.weight"), (std::vector<int64_t>{50}));
  EXPECT_EQ(shape_of(*model, "bu_dec_l1.merge_layer.2.cbr.0.weight"), (std::vector<int64_t>{10, 5, 3, 3}));
  EXPECT_EQ(shape_of(*model, "bu_dec_l2.br.br.0.running_mean"), (std::vector<int64_t>{48}));
  EXPECT_EQ(shape_of(*model, "bu_dec_l4.merge_layer.3.bias"), (std::vector<int64_t>{21}));
  EXPECT_EQ(model->named_parameters().find("bu_dec_l4.br.br.0.weight"), nullptr);  // last pyramid: no BR
  EXPECT_EQ(shape_of(*model, "merge_enc_dec_l2.wt_layer.1.weight"), (std::vector<int64_t>{64, 256, 1, 1}));
  EXPECT_EQ(shape_of(*model, "merge_enc_dec_l3.expansion_layer.cbr.0.weight"), (std::vector<int64_t>{48, 8, 3, 3}));
  EXPECT_EQ(shape_of(*model, "bu_br_l4.1.weight"), (std::vector<int64_t>{32}));
  EXPECT_EQ(model->feature_channels(), 512);
  EXPECT_EQ(model->architecture(), "espnetv2_s2");
}

// The published PASCAL checkpoints: every tensor loads, by name and shape, into the
// table's networks (level5 and the ImageNet classifier are not in them, nor built).
TEST(ESPNetv2, PublishedPascalCheckpointsLoadCompletely) {
  for (const auto& [name, width] :
       {std::pair<std::string, std::string>{"espnetv2_s1", "1.0"}, {"espnetv2_s2", "2.0"}}) {
    const std::string path = published_checkpoint(width);
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not on this machine";
    SCOPED_TRACE(name);
    SegmentationModel model = make_model(name, 21);
    const ImportReport report = import_state_dict(*model, path, /*strict=*/true);
    EXPECT_TRUE(report.missing.empty()) << report.summary();
    EXPECT_TRUE(report.unexpected.empty()) << report.summary();
    EXPECT_TRUE(report.mismatched.empty()) << report.summary();
    EXPECT_EQ(report.loaded.size(), read_state_dict(path).size());
    EXPECT_EQ(report.loaded.size(), 526u);
  }
}

// The parameter count is the checkpoints' (their tensors less BatchNorm buffers).
TEST(ESPNetv2, ParameterCountsMatchThePublishedCheckpoints) {
  EXPECT_EQ(count_parameters(*ESPNetv2(ESPNetv2Options(21).width(2.0))), 789253);
  EXPECT_EQ(count_parameters(*ESPNetv2(ESPNetv2Options(21).width(1.0))), 234021);
  for (const auto& [width, s] : {std::pair<double, std::string>{1.0, "1.0"}, {2.0, "2.0"}}) {
    const std::string path = published_checkpoint(s);
    if (!std::filesystem::exists(path)) continue;
    int64_t in_file = 0;
    for (const auto& [name, tensor] : read_state_dict(path))
      if (!is_buffer_name(name)) in_file += tensor.numel();
    EXPECT_EQ(count_parameters(*ESPNetv2(ESPNetv2Options(21).width(width))), in_file) << path;
  }
}

// Train mode: logits at the input's size, finite; the gradient reaches the first conv.
TEST(ESPNetv2, FullResolutionLogitsAndGradientToTheStem) {
  torch::manual_seed(0);
  ESPNetv2 model(ESPNetv2Options(6).width(1.0));
  const SegOutput out = model->forward_features(torch::randn({2, 3, 64, 96}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 6, 64, 96}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{2, 256, 4, 6}));
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
  out.logits.square().mean().backward();
  const torch::Tensor grad = model->named_parameters()["base_net.level1.conv.weight"].grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
}

// Channels-last training (train.channels_last) runs the strided units' depth-wise
// branches in NCHW (oneDNN is faster there): the same function and gradients as the
// all-NCHW network, and channels-last out of every DownSampler.
TEST(ESPNetv2, ChannelsLastMatchesNchw) {
  torch::manual_seed(0);
  ESPNetv2 nchw(ESPNetv2Options(6).width(1.0));
  torch::manual_seed(0);
  ESPNetv2 cl(ESPNetv2Options(6).width(1.0));
  use_channels_last(*cl);
  const torch::Tensor image = torch::randn({2, 3, 64, 96});
  const SegOutput a = nchw->forward_features(image);
  const SegOutput b = cl->forward_features(image.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(b.features.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT((a.logits - b.logits).abs().max().item<double>(), 1e-4 * a.logits.abs().max().item<double>());
  a.logits.square().mean().backward();
  b.logits.square().mean().backward();
  for (const char* name : {"base_net.level1.conv.weight", "base_net.level2_0.eesp.spp_dw.3.conv.weight",
                           "base_net.level4_0.eesp.spp_dw.1.conv.weight", "base_net.level4.6.proj_1x1.act.weight"}) {
    const torch::Tensor ga = nchw->named_parameters()[name].grad(), gb = cl->named_parameters()[name].grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << name;
    EXPECT_TRUE(torch::allclose(ga, gb, 1e-3, 1e-6)) << name << ": max |diff| " << (ga - gb).abs().max().item<double>();
  }
}

// Eval mode normalises with the running statistics: an image's logits do not depend
// on what else is in the batch (in training mode they do).
TEST(ESPNetv2, EvalUsesRunningStatistics) {
  torch::manual_seed(1);
  ESPNetv2 model(ESPNetv2Options(4).width(0.5));
  randomise_batch_norm(*model);
  const auto a = torch::randn({1, 3, 64, 64}), b = torch::randn({1, 3, 64, 64}) * 3 + 1;
  model->eval();
  torch::NoGradGuard no_grad;
  const auto alone = model->forward(a);
  const auto in_batch = model->forward(torch::cat({a, b})).narrow(0, 0, 1);
  EXPECT_TRUE(torch::allclose(alone, in_batch, 1e-4, 1e-5)) << (alone - in_batch).abs().max().item<double>();
  model->train();
  const auto train_alone = model->forward(torch::cat({a, a}));
  const auto train_in_batch = model->forward(torch::cat({a, b})).narrow(0, 0, 1);
  EXPECT_GT((train_alone.narrow(0, 0, 1) - train_in_batch).abs().max().item<double>(), 1e-3);
}

// Sizes that are not multiples of 16 still work: each decoder step resizes to its skip.
TEST(ESPNetv2, AnyInputSizeAndBadOptions) {
  ESPNetv2 model(ESPNetv2Options(3).width(1.5));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({1, 3, 50, 38})).sizes(), (std::vector<int64_t>{1, 3, 50, 38}));
  EXPECT_EQ(model->architecture(), "espnetv2_s1.5");
  EXPECT_THROW(ESPNetv2(ESPNetv2Options(5).width(1.25)), Error);
  EXPECT_THROW(ESPNetv2(ESPNetv2Options(1)), Error);
}

TEST(ESPNetv2, HeadIsTheDecoder) {
  ESPNetv2 model(ESPNetv2Options(7));
  int64_t head = 0, expected = 0;
  for (const auto& p : model->head_parameters()) head += p.numel();
  for (const auto& p : model->named_parameters())
    if (p.key().rfind("base_net.", 0) != 0) expected += p.value().numel();
  EXPECT_EQ(head, expected);
  EXPECT_GT(head, 0);
}

// With the published PASCAL weights (s = 2.0), featureless images of ordinary colours
// (grey, white, sky blue, foliage green) come out as background (PASCAL class 0) on
// nearly every pixel. (A pure black image does not: the network calls most of it
// dog and person, so it is left out.)
TEST(ESPNetv2, PascalWeightsSegmentUniformImagesAsBackground) {
  const std::string path = published_checkpoint("2.0");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not on this machine";
  SegmentationModel model = make_model("espnetv2_s2", 21);
  import_state_dict(*model, path, /*strict=*/true);
  model->eval();
  torch::NoGradGuard no_grad;
  constexpr std::array<double, 3> kMean{123.675, 116.28, 103.53}, kStd{58.395, 57.12, 57.375};
  for (const cv::Scalar bgr :
       {cv::Scalar(128, 128, 128), cv::Scalar(255, 255, 255), cv::Scalar(235, 206, 135), cv::Scalar(40, 120, 60)}) {
    const cv::Mat image(128, 160, CV_8UC3, bgr);
    const torch::Tensor labels = model->forward(image_to_tensor(image, kMean, kStd).unsqueeze(0)).argmax(1);
    EXPECT_GT(labels.eq(0).to(torch::kFloat).mean().item<double>(), 0.95) << "BGR " << bgr;
  }
}
