#include "models/batch_norm.h"

#include <gtest/gtest.h>

#include "models/model.h"

namespace segtransfer {
namespace {

// (BatchNorm layers in training mode, other modules in training mode) of `model`.
std::pair<int, int> training_counts(SegmentationModelImpl& model) {
  int batch_norm = 0, other = 0;
  for (const auto& m : model.modules()) {
    if (!m->is_training()) continue;
    if (m->as<BatchNorm2dImpl>())
      ++batch_norm;
    else
      ++other;
  }
  return {batch_norm, other};
}

// model.norm_eval's mode: BatchNorm in eval, the rest training; an evaluation inside
// an EvalModeScope puts everything in eval and leaves that mixed mode as it found it.
TEST(BatchNormModes, EvalModeScopeRestoresMixedModes) {
  auto model = make_model("lraspp_mobilenet_v3_small", 3);
  model->train();
  keep_batch_norm_statistics(*model);
  const auto [bn_before, other_before] = training_counts(*model);
  ASSERT_EQ(bn_before, 0);
  ASSERT_GT(other_before, 0);
  {
    EvalModeScope eval_mode(*model);
    EXPECT_EQ(training_counts(*model), std::make_pair(0, 0));
  }
  EXPECT_EQ(training_counts(*model), std::make_pair(0, other_before));
  // The plain train() that an evaluation used to end with would have undone norm_eval.
  model->train();
  EXPECT_GT(training_counts(*model).first, 0);
}

}  // namespace
}  // namespace segtransfer
