#include "models/espnet.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

#include "core/error.h"
#include "models/weight_import.h"

using namespace segtransfer;
using namespace segtransfer::testing;

// The paper reports ~0.364M parameters for ESPNet (p=2, q=8, 20 Cityscapes classes).
TEST(ESPNet, PublishedConfigurationSize) {
  EXPECT_EQ(count_parameters(*ESPNet(ESPNetOptions(20))), 365109);
  EXPECT_EQ(count_parameters(*ESPNet(ESPNetOptions(19))), 363462);
  EXPECT_EQ(count_parameters(*ESPNet(ESPNetOptions(20).q(3))), 203189);
}

TEST(ESPNet, ReferenceParameterNames) {
  ESPNet model(ESPNetOptions(19));
  EXPECT_EQ(shape_of(*model, "encoder.level1.conv.weight"), (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.level1.act.weight"), (std::vector<int64_t>{16}));
  EXPECT_EQ(shape_of(*model, "encoder.b1.bn.weight"), (std::vector<int64_t>{19}));
  EXPECT_EQ(shape_of(*model, "encoder.level2_0.c1.conv.weight"), (std::vector<int64_t>{12, 19, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.level2_0.d1.conv.weight"), (std::vector<int64_t>{16, 12, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.level2_0.d16.conv.weight"), (std::vector<int64_t>{12, 12, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.level2_0.bn.running_mean"), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape_of(*model, "encoder.level2_0.act.weight"), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape_of(*model, "encoder.level2.1.bn.bn.weight"), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape_of(*model, "encoder.level2.1.bn.act.weight"), (std::vector<int64_t>{64}));
  EXPECT_EQ(shape_of(*model, "encoder.b2.act.weight"), (std::vector<int64_t>{131}));
  EXPECT_EQ(shape_of(*model, "encoder.level3_0.c1.conv.weight"), (std::vector<int64_t>{25, 131, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.level3.7.c1.conv.weight"), (std::vector<int64_t>{25, 128, 1, 1}));
  EXPECT_EQ(shape_of(*model, "encoder.level3.7.d1.conv.weight"), (std::vector<int64_t>{28, 25, 3, 3}));
  EXPECT_EQ(shape_of(*model, "encoder.b3.bn.num_batches_tracked"), (std::vector<int64_t>{}));
  EXPECT_EQ(shape_of(*model, "encoder.classifier.conv.weight"), (std::vector<int64_t>{19, 256, 1, 1}));
  EXPECT_EQ(shape_of(*model, "level3_C.conv.weight"), (std::vector<int64_t>{19, 131, 1, 1}));
  EXPECT_EQ(shape_of(*model, "br.weight"), (std::vector<int64_t>{19}));
  EXPECT_EQ(shape_of(*model, "conv.conv.weight"), (std::vector<int64_t>{19, 38, 3, 3}));
  EXPECT_EQ(shape_of(*model, "up_l3.0.weight"), (std::vector<int64_t>{19, 19, 2, 2}));
  EXPECT_EQ(shape_of(*model, "combine_l2_l3.0.act.weight"), (std::vector<int64_t>{38}));
  EXPECT_EQ(shape_of(*model, "combine_l2_l3.1.c1.conv.weight"), (std::vector<int64_t>{3, 38, 1, 1}));
  EXPECT_EQ(shape_of(*model, "combine_l2_l3.1.d1.conv.weight"), (std::vector<int64_t>{7, 3, 3, 3}));
  EXPECT_EQ(shape_of(*model, "combine_l2_l3.1.bn.bn.weight"), (std::vector<int64_t>{19}));
  EXPECT_EQ(shape_of(*model, "up_l2.1.bn.weight"), (std::vector<int64_t>{19}));
  EXPECT_EQ(shape_of(*model, "classifier.weight"), (std::vector<int64_t>{19, 19, 2, 2}));
  EXPECT_EQ(model->named_parameters().find("encoder.level3.8.c1.conv.weight"), nullptr);  // q = 8 blocks
  EXPECT_DOUBLE_EQ(model->named_modules()["br"]->as<segtransfer::BatchNorm2d>()->options.eps(), 1e-3);
}

TEST(ESPNet, FullResolutionLogitsAndStride8Features) {
  ESPNet model(ESPNetOptions(7));
  model->eval();
  const SegOutput out = model->forward_features(torch::randn({1, 3, 64, 48}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 7, 64, 48}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{1, 256, 8, 6}));
}

TEST(ESPNet, HeadIsTheClassSpaceDecoder) {
  ESPNet model(ESPNetOptions(7));
  int64_t head = 0;
  for (const auto& p : model->head_parameters()) head += p.numel();
  int64_t expected = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("encoder.", 0) != 0 || p.key().rfind("encoder.classifier.", 0) == 0)
      expected += p.value().numel();
  }
  EXPECT_EQ(head, expected);
}

TEST(ESPNet, RejectsSizesTheDecoderCannotAlign) {
  ESPNet model(ESPNetOptions(5));
  try {
    model->forward(torch::randn({1, 3, 36, 64}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ESPNet(ESPNetOptions(5).p(0)), Error);
  EXPECT_THROW(ESPNet(ESPNetOptions(4)), Error);
}

// espnet_city: the published Cityscapes network (q = 3) with its background output
// dropped at the end and BGR input. Same weights as a plain 20-class ESPNet fed the
// flipped image: its first 19 logits, exactly.
TEST(ESPNet, CityVariantDropsTheBackgroundOutputAndFlipsToBgr) {
  torch::manual_seed(0);
  ESPNet plain(ESPNetOptions(20).q(3).level1_conv_skip(true));
  ESPNet city(ESPNetOptions(19).q(3).background_output(true).bgr_input(true).level1_conv_skip(true));
  EXPECT_EQ(city->num_classes(), 19);
  {
    torch::NoGradGuard no_grad;
    const auto from = plain->named_parameters(), to = city->named_parameters();
    ASSERT_EQ(from.size(), to.size());
    for (const auto& p : from) to[p.key()].copy_(p.value());
    const auto from_buffers = plain->named_buffers(), to_buffers = city->named_buffers();
    for (const auto& b : from_buffers) to_buffers[b.key()].copy_(b.value());
  }
  plain->eval();
  city->eval();
  torch::NoGradGuard no_grad;
  const auto rgb = torch::randn({1, 3, 32, 48});
  const auto expected = plain->forward(rgb.flip(1)).narrow(1, 0, 19);
  const auto got = city->forward(rgb);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));
}

// The published checkpoint (../shared/weights, not in the repository) loads with no
// missing, unexpected or mismatched tensor.
TEST(ESPNet, PublishedCityscapesCheckpointLoadsCompletely) {
  const std::string path = std::string(SEGTRANSFER_SOURCE_DIR) + "/../shared/weights/espnet/espnet_p_2_q_3_city.pth";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not on this machine";
  SegmentationModel model = make_model("espnet_city", 19);
  const ImportReport report = import_state_dict(*model, path, /*strict=*/true);
  EXPECT_TRUE(report.missing.empty()) << report.summary();
  EXPECT_TRUE(report.unexpected.empty()) << report.summary();
  EXPECT_TRUE(report.mismatched.empty()) << report.summary();
  EXPECT_EQ(model->num_classes(), 19);
}
