#include "models/torchscript_export.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include "test_util.h"

namespace segtransfer {
namespace {

TEST(TorchScriptExport, TracedModuleComputesTheModelsLogits) {
  testing::TempDir dir;
  torch::manual_seed(0);
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  model->train();
  const std::string path = (dir / "model.pt").string();
  export_torchscript(*model, cv::Size(64, 32), path);
  // The model is left as it was found.
  EXPECT_TRUE(model->is_training());
  for (const torch::Tensor& p : model->parameters()) EXPECT_TRUE(p.requires_grad());

  torch::jit::Module loaded = torch::jit::load(path);
  EXPECT_EQ(loaded.parameters().size(), 0u);  // weights are constants of the graph
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 3, 32, 64});
  const torch::Tensor expected = model->forward(x);
  const torch::Tensor got = loaded.forward({x}).toTensor();
  ASSERT_EQ(got.sizes().vec(), (std::vector<int64_t>{1, 19, 32, 64}));
  EXPECT_LT((got - expected).abs().max().item<float>(), 1e-5);
}

TEST(TorchScriptExport, NeedsAnInputSize) {
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 3);
  testing::TempDir dir;
  EXPECT_TRUE(testing::contains(
      testing::error_of([&] { export_torchscript(*model, cv::Size(0, 32), (dir / "m.pt").string()); }),
      "needs an input size"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m.pt"));
}

}  // namespace
}  // namespace segtransfer
